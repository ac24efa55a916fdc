"""The embedded executor: a class pressing Run together loses no run, however long the queue; queued is not dead;
a run no executor holds is taken on again; first seeds are simulated before grading seeds."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient
from django.utils import timezone

from config.asgi import application
from kata.models import Attempt, Run
from kata.runs import lease, pool, submit
from kata.services import kata_load_fixture
from tests.personas import make_persona

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")
DESIGN = Path("fixtures/status-cache/designs/reference.json").read_text()
SPEC = {"arrival": {"rate": 5.0}, "stations": [{"name": "a", "service": {"dist": "exponential", "mean": 0.05}}],
        "duration": 20.0}


async def _learner(name: str) -> AsyncClient:
    user = await sync_to_async(make_persona)("learner", username=name)
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def _follow(client: AsyncClient, path: str) -> list[dict]:
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    socket = WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, cookie])
    connected, _ = await socket.connect()
    assert connected
    messages = []
    while not messages or not (messages[-1]["type"] == "status"
                               and messages[-1]["status"] in {"succeeded", "failed", "cancelled"}):
        messages.append(await socket.receive_json_from(timeout=120))
        if messages[-1]["type"] == "frame":  # acknowledged as the page does, so the replay goes on
            await socket.send_json_to({"type": "ack", "seq": messages[-1]["seq"]})
    await socket.disconnect()
    return messages


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_class_queueing_more_runs_than_start_at_once_loses_none():
    await sync_to_async(kata_load_fixture)(path=Path("fixtures/status-cache/kata.json"))
    count = 2 * settings.KATA_STARTING_RUNS + 2
    clients = [await _learner(f"learner-{i}") for i in range(count)]
    answers = await asyncio.gather(*[c.post("/katas/status-cache/runs/", DESIGN, content_type="application/json")
                                     for c in clients])
    assert [a.status_code for a in answers] == [201] * count
    followed = await asyncio.gather(*[_follow(c, a.json()["socket"]) for c, a in zip(clients, answers, strict=True)])
    assert [m[-1]["status"] for m in followed] == ["succeeded"] * count, [m[-1] for m in followed]
    waited = [m for m in followed if any(x["type"] == "status" and x["status"] == "queued" for x in m)]
    assert waited, "some runs waited in the queue"
    assert all("Waiting for a simulator" in next(x["message"] for x in m if x.get("status") == "queued")
               for m in waited), "a queued run's learner is told they wait"
    runs = [r async for r in Run.objects.filter(pk__in=[a.json()["run"] for a in answers])]
    assert all(r.status == "succeeded" and r.total == 4 and r.executions == 1 for r in runs)


def test_streamed_seeds_are_simulated_before_grading_seeds_and_in_order():
    scheduler = pool.Scheduler(1)  # one at a time through the real pool, so the order is the scheduler's
    finished: list[str] = []
    lock = threading.Lock()

    def note(name):
        def done(future):
            with lock:
                finished.append(name)
        return done

    # Holds the one worker while the others are submitted.
    blocker = scheduler.submit(pool.GRADING, pool.simulate, {**SPEC, "duration": 4000.0}, 1)
    futures = [blocker]
    for name, priority in [("grading-1", pool.GRADING), ("grading-2", pool.GRADING),
                           ("streamed-1", pool.STREAMED), ("streamed-2", pool.STREAMED)]:
        future = scheduler.submit(priority, pool.simulate, SPEC, 2)
        future.add_done_callback(note(name))
        futures.append(future)
    cancelled = scheduler.submit(pool.GRADING, pool.simulate, SPEC, 3)
    assert cancelled.cancel(), "a seed still waiting can be cancelled"
    for future in futures:
        future.result(timeout=120)
    assert finished == ["streamed-1", "streamed-2", "grading-1", "grading-2"]
    assert scheduler.waiting() == 0


@pytest.mark.django_db
def test_queued_is_not_dead_but_a_silent_running_run_nobody_holds_is(learner, clearpay):
    attempt = Attempt.objects.create(learner=learner, kata=clearpay, design={})
    long_ago = timezone.now() - timedelta(minutes=30)
    queued = Run.objects.create(attempt=attempt, seeds=[1], status="queued")
    silent = Run.objects.create(attempt=attempt, seeds=[1], status="running", heartbeat_at=long_ago)
    beating = Run.objects.create(attempt=attempt, seeds=[1], status="running", heartbeat_at=timezone.now())
    Run.objects.filter(pk__in=[queued.pk, silent.pk, beating.pk]).update(created_at=long_ago)
    assert lease.runs_expire_stale(learner=learner) == 1
    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {queued.pk: "queued", silent.pk: "failed", beating.pk: "running"}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_runs_left_by_a_previous_process_are_taken_on_and_finish():
    kata, _ = await sync_to_async(kata_load_fixture)(path=Path("fixtures/status-cache/kata.json"))
    owners = [await sync_to_async(make_persona)("learner", username=f"owner-{i}") for i in range(2)]
    design = json.loads(DESIGN)
    # As a killed server leaves them: one running with a fresh heartbeat of a process that is gone, one queued.
    attempts = [await Attempt.objects.acreate(learner=owner, kata=kata, design=design) for owner in owners[:2]]
    running = await Run.objects.acreate(attempt=attempts[0],
                                        seeds=[1, 2, 3], status="running", executions=1, heartbeat_at=timezone.now(),
                                        worker="web pid 1 (gone)")
    queued = await Run.objects.acreate(attempt=attempts[1], seeds=[1, 2, 3])
    taken = await sync_to_async(submit.runs_recover)(asyncio.get_running_loop())
    assert taken == [running.pk, queued.pk]
    assert await sync_to_async(submit.runs_recover)(asyncio.get_running_loop()) == [], "held now: taken on once"
    for _ in range(600):
        statuses = [r.status async for r in Run.objects.filter(pk__in=taken).order_by("pk")]
        if statuses == ["succeeded", "succeeded"]:
            break
        await asyncio.sleep(0.1)
    assert statuses == ["succeeded", "succeeded"]
    assert [r.executions async for r in Run.objects.filter(pk__in=taken).order_by("pk")] == [2, 1]
