"""The run socket against the real ASGI application: frames in order, then the grade; others are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from config.asgi import application
from kata.models import Run, RunFrame
from kata.services import kata_load_fixture
from tests.personas import make_persona

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")
DESIGNS = Path("fixtures/status-cache/designs")
pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def _setup():
    await sync_to_async(kata_load_fixture)(path=Path("fixtures/status-cache/kata.json"))
    learner = await sync_to_async(make_persona)("learner")
    client = AsyncClient()
    await client.aforce_login(learner)
    return learner, client


def _socket(client: AsyncClient, path: str) -> WebsocketCommunicator:
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    return WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, cookie])


async def _start(client: AsyncClient, design: str = "reference") -> dict:
    body = (DESIGNS / f"{design}.json").read_text()
    response = await client.post("/katas/status-cache/runs/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


async def _read_until_finished(socket: WebsocketCommunicator) -> list[dict]:
    """Every message to the run's final status, acknowledging frames as the page does."""
    messages = []
    while True:
        message = await socket.receive_json_from(timeout=30)
        messages.append(message)
        if message["type"] == "frame":
            await socket.send_json_to({"type": "ack", "seq": message["seq"]})
        if message["type"] == "status" and message["status"] in {"succeeded", "failed", "cancelled"}:
            return messages


async def test_frames_arrive_in_order_and_end_with_the_grade():
    _, client = await _setup()
    payload = await _start(client)
    assert set(payload["figures"]) == {"accept", "settle", "errors", "others", "utilization", "queues", "cost"}
    socket = _socket(client, payload["socket"])
    connected, _ = await socket.connect()
    assert connected
    messages = await _read_until_finished(socket)
    frames = [m for m in messages if m["type"] == "frame"]
    seqs = [f["seq"] for f in frames]
    # A frame sent while the socket joins may come twice (replay, then live); the page drops repeated seqs.
    assert seqs == sorted(seqs) and sorted(set(seqs)) == list(range(1, max(seqs) + 1)), "in order, none missing"
    frames = list({f["seq"]: f for f in frames}.values())
    points = [p for f in frames for p in f["points"]]
    times = [p["t"] for p in points]
    assert times == sorted(times) and len(times) == len(set(times))
    assert {"acc", "set", "err", "cost", "u", "q", "src"} <= set(points[0])
    # each traffic source on its own, its error share as the grade counts it: met_error / arrivals, in %
    assert set(points[-1]["src"]) and all({"acc", "set", "err", "n"} == set(v) for v in points[-1]["src"].values())
    grade = next(m for m in messages if m["type"] == "grade")
    assert grade["passed"] == grade["total"] == 4
    assert messages[-1] == {"type": "status", "status": "succeeded", "message": "4/4 scenarios passed."}
    await socket.disconnect()
    run = await Run.objects.aget(pk=payload["run"])
    assert run.passed == 4 and run.progress == 1.0 and sorted(run.results) == ["1", "2", "3"]
    assert 0 < len(run.series["points"]) <= 400


async def test_a_late_socket_replays_every_frame_then_the_grade():
    _, client = await _setup()
    payload = await _start(client)
    first = _socket(client, payload["socket"])
    await first.connect()
    live = await _read_until_finished(first)
    await first.disconnect()
    again = _socket(client, payload["socket"])
    await again.connect()
    replay = await _read_until_finished(again)
    await again.disconnect()
    frames = lambda ms: [m["seq"] for m in ms if m["type"] == "frame"]  # noqa: E731
    assert frames(replay) == sorted(set(frames(live)))
    assert [m["type"] for m in replay[-2:]] == ["grade", "status"]
    assert await RunFrame.objects.filter(run_id=payload["run"]).acount() == len(set(frames(live)))


async def test_another_learner_cannot_follow_the_run():
    _, client = await _setup()
    payload = await _start(client)
    other = await sync_to_async(make_persona)("other_learner")
    other_client = AsyncClient()
    await other_client.aforce_login(other)
    socket = _socket(other_client, payload["socket"])
    connected, _ = await socket.connect()
    # Accepted, then closed: a socket refused in its handshake reaches the browser as 1006, without the reason.
    assert connected and await socket.receive_output() == {"type": "websocket.close", "code": 4404}
    assert (await other_client.get(payload["grade_url"])).status_code == 404
    # Let the learner's run finish so the test leaves nothing running.
    mine = _socket(client, payload["socket"])
    await mine.connect()
    await _read_until_finished(mine)
    await mine.disconnect()


async def test_second_run_while_one_is_active_is_refused_and_cancel_stops_it():
    await sync_to_async(kata_load_fixture)(path=Path("fixtures/clearpay/kata.json"))
    _, client = await _setup()
    body = Path("fixtures/clearpay/designs/reference.json").read_text()
    response = await client.post("/katas/clearpay/runs/", body, content_type="application/json")
    assert response.status_code == 201
    payload = response.json()
    again = await client.post("/katas/clearpay/runs/", body, content_type="application/json")
    assert again.status_code == 400 and "already have a run in progress" in again.json()["error"]
    socket = _socket(client, payload["socket"])
    await socket.connect()
    first = await socket.receive_json_from(timeout=30)
    assert first["type"] in {"frame", "status"}
    await socket.send_json_to({"type": "cancel"})
    messages = await _read_until_finished(socket)
    assert messages[-1]["status"] == "cancelled"
    await socket.send_to(text_data="not json")
    assert (await socket.receive_json_from())["type"] == "error"
    await socket.disconnect()
    run = await Run.objects.aget(pk=payload["run"])
    assert run.status == "cancelled" and run.passed is None


async def test_invalid_design_is_refused_with_problems_and_nothing_saved():
    _, client = await _setup()
    response = await client.post("/katas/status-cache/runs/", json.dumps({"nodes": [], "edges": []}),
                                 content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert "problems" in body and any("needs a 'Merchant clients'" in p["message"] for p in body["problems"])
    assert await Run.objects.acount() == 0
