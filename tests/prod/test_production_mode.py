"""Production mode's guarantees, each against the real services: PostgreSQL, Redis, Daphne, Celery workers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from kata import services
from kata.models import Attempt, Kata, Run, RunFrame, RunTraces
from kata.runs import submit
from kata.runs.lease import MAX_EXECUTIONS, worker_lost_message
from tests.prod.conftest import ROOT, Learner, Stack, finished, first_frame, prod_script, wait_until


def _run(run_id: int) -> Run:
    return Run.objects.select_related("attempt").get(pk=run_id)


def _frame_seqs(run_id: int) -> list[int]:
    return list(RunFrame.objects.filter(run_id=run_id).order_by("seq").values_list("seq", flat=True))


def test_the_database_is_postgresql_and_runs_go_to_celery(stack: Stack) -> None:
    assert connection.vendor == "postgresql"
    assert settings.KATA_RUN_EXECUTOR == "celery"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"


def test_a_run_executes_on_a_worker_and_streams_through_redis(two_workers: Stack, learner: Any,
                                                              reference_design: dict[str, Any]) -> None:
    async def scenario() -> tuple[dict[str, Any], Learner]:
        async with Learner(two_workers.url, learner.username) as page:
            body = await page.run(reference_design)
            await page.connect(body["run"])
            await page.read_until(finished, timeout=90)
            return body, page

    body, page = asyncio.run(scenario())
    run = _run(body["run"])
    assert run.status == "succeeded" and run.passed == run.total == 5
    assert run.worker.startswith("test") and run.executions == 1
    frames = page.frames()
    assert len(frames) >= 3, "frames streamed live, not only at the end"
    assert [f["seq"] for f in frames] == _frame_seqs(run.pk), "every saved frame reached the learner, in order"
    assert {m.get("type") for m in page.messages} >= {"frame", "status", "grade"}
    # Its traces come after, from a task of their own that a worker takes once no run is waiting.
    wait_until(lambda: RunTraces.objects.filter(run=run, status="ready").exists(), timeout=120,
               what="the run's traces recorded by a worker")


def test_a_killed_worker_s_run_is_taken_over_by_the_other_worker(two_workers: Stack, learner: Any,
                                                                   reference_design: dict[str, Any]) -> None:
    """SIGKILL the whole worker mid-run: its message stays unacknowledged in the broker (for the visibility timeout,
    longer than this test), the surviving worker's sweep finds the run's heartbeat silent and queues it again, takes
    it over, and the learner's page starts again and gets the grade."""

    async def scenario() -> tuple[int, str, Learner]:
        async with Learner(two_workers.url, learner.username) as page:
            run_id = await page.run_to_first_frame(reference_design)
            executing = await asyncio.to_thread(lambda: _run(run_id).worker)
            victim = executing.split("@", 1)[0]
            await asyncio.to_thread(two_workers.kill_worker, victim)
            await page.read_until(finished, timeout=120)
            return run_id, victim, page

    run_id, victim, page = asyncio.run(scenario())
    run = _run(run_id)
    assert run.status == "succeeded", run.error_message
    assert run.executions == 2 and not run.worker.startswith(f"{victim}@"), run.worker
    assert run.passed == 5 and run.attempt.design["nodes"], "the attempt and its design are intact"
    executions = [f["execution"] for f in page.frames()]
    assert executions[0] == 1 and executions[-1] == 2, "the page saw the run start again"
    assert any("starting again" in m.get("message", "") for m in page.messages if m.get("type") == "status")
    seqs = _frame_seqs(run_id)
    assert seqs == sorted(seqs) and seqs[0] > 1, "the second execution's frames are numbered after the first's"


def test_a_killed_pool_process_is_requeued_at_once(two_workers: Stack, learner: Any,
                                                   reference_design: dict[str, Any]) -> None:
    """Kill only the process executing the run: Celery puts the message back without waiting for the broker."""
    async def scenario() -> int:
        async with Learner(two_workers.url, learner.username) as page:
            run_id = await page.run_to_first_frame(reference_design)
            pid = int((await asyncio.to_thread(lambda: _run(run_id).worker)).rsplit("pid ", 1)[1])
            os.kill(pid, signal.SIGKILL)
            await page.read_until(finished, timeout=90)
            return run_id

    run = _run(asyncio.run(scenario()))
    assert run.status == "succeeded" and run.executions == 2 and run.passed == 5


def test_a_run_whose_workers_keep_dying_fails_with_a_reason_the_learner_sees(stack: Stack, learner: Any) -> None:


    attempt = Attempt.objects.create(learner=learner, kata=Kata.objects.get(slug="clearpay"),
                                     design={"nodes": [], "edges": []})
    run = Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="running", executions=MAX_EXECUTIONS,
                             heartbeat_at=timezone.now() - timedelta(minutes=1), worker="gone@host pid 1")
    assert submit.run_enqueue(run.pk)

    async def scenario() -> dict[str, Any]:
        async with Learner(stack.url, learner.username) as page:
            await page.connect(run.pk)
            return await page.read_until(lambda m: finished(m) and m["status"] == "failed", timeout=30)

    message = asyncio.run(scenario())
    assert message["message"] == worker_lost_message(MAX_EXECUTIONS)
    run.refresh_from_db()
    assert run.status == "failed" and Attempt.objects.filter(pk=attempt.pk).exists()


def test_closing_the_browser_does_not_stop_the_run(two_workers: Stack, learner: Any,
                                                   reference_design: dict[str, Any]) -> None:
    async def scenario() -> int:
        async with Learner(two_workers.url, learner.username) as page:
            run_id = await page.run_to_first_frame(reference_design)
            assert page.ws is not None
            await page.ws.close()  # the laptop lid
            return run_id

    run_id = asyncio.run(scenario())
    assert wait_until(lambda: _run(run_id).status in ("succeeded", "failed"), timeout=90, what="the run to end")
    run = _run(run_id)
    assert run.status == "succeeded" and run.passed == 5
    assert run.results and run.series["points"] and len(_frame_seqs(run_id)) >= 3


def test_a_redis_restart_loses_no_run_and_streaming_resumes(two_workers: Stack, learner: Any,
                                                            reference_design: dict[str, Any]) -> None:
    async def watch(run: int, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with Learner(two_workers.url, learner.username) as other:
            await other.connect(run)
            return await other.read_until(until, timeout=30)

    async def scenario() -> tuple[int, Learner]:
        async with Learner(two_workers.url, learner.username) as page:
            run_id = await page.run_to_first_frame(reference_design)
            # Sockets opened together leave each web process with several pooled Redis connections.
            await asyncio.gather(*(watch(run_id, first_frame) for _ in range(8)))
            await asyncio.to_thread(prod_script, "redis-restart")
            await page.read_until(finished, timeout=120)
            return run_id, page

    run_id, page = asyncio.run(scenario())
    run = _run(run_id)
    assert run.status == "succeeded" and run.passed == 5
    received = sorted({f["seq"] for f in page.frames()})
    assert received == _frame_seqs(run_id), "frames published while Redis was down arrived from the database"

    # Every web process's pooled Redis connections died with the restart: new sockets must still open on both
    # processes (each is answered with the run's final status from its replay).
    async def reopen() -> list[str]:
        return [m["status"] for m in await asyncio.gather(*(watch(run_id, finished) for _ in range(8)))]

    assert asyncio.run(reopen()) == ["succeeded"] * 8

    # Workers reconnected to the broker: the next run goes through as usual.
    async def again() -> dict[str, Any]:
        async with Learner(two_workers.url, learner.username) as page:
            body = await page.run(reference_design)
            await page.connect(body["run"])
            return await page.read_until(finished, timeout=90)

    assert asyncio.run(again())["status"] == "succeeded"


def test_attempt_and_run_are_written_together_or_not_at_all(learner: Any, reference_design: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:

    kata = Kata.objects.get(slug="clearpay")

    def refuse(*args: object, **kwargs: object) -> None:
        raise IntegrityError("the database refused the run")

    monkeypatch.setattr(Run.objects, "create", refuse)
    with pytest.raises(IntegrityError):
        services.run_start(learner=learner, kata=kata, document=reference_design)
    assert not Attempt.objects.filter(learner=learner).exists(), "no attempt without its run"


def test_a_run_that_cannot_be_queued_fails_with_a_reason_and_keeps_the_attempt(
    stack: Stack, learner: Any, reference_design: dict[str, Any]
) -> None:
    run = services.run_start(learner=learner, kata=Kata.objects.get(slug="clearpay"), document=reference_design)
    prod_script("stop-redis")
    try:
        assert submit.run_enqueue(run.pk) is False
    finally:
        prod_script("start-redis")
    run.refresh_from_db()
    assert run.status == "failed" and run.error_message == submit.QUEUE_UNREACHABLE_MESSAGE
    assert Attempt.objects.get(pk=run.attempt_id).design["nodes"], "the attempt and its design are kept"


def test_the_load_test_command_drives_learners_over_http_and_websockets(two_workers: Stack) -> None:
    command = [sys.executable, "manage.py", "loadtest", "--learners", "3", "--url", two_workers.url, "--json",
               "--timeout", "120"]
    done = subprocess.run(command, cwd=ROOT, env=two_workers.env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["completed"] == 3 and figures["errors"] == 0 and figures["lost"] == 0
    assert figures["executor"] == "celery"
    assert 0 < figures["first_frame_p50_s"] <= figures["first_frame_p95_s"] < figures["grade_p95_s"]
    assert figures["frames_total"] >= 3
