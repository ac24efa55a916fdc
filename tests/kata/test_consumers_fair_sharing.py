"""One learner cannot starve the others through sockets: bounded sockets, bounded replays, answered input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application
from kata.consumers import RunConsumer
from kata.models import Attempt, Run, RunFrame
from kata.services import kata_load_fixture
from kata.sockets import socket_guard, socket_guard_reset
from tests.personas import make_persona

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")
pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
FRAME_PAD = 4000  # bytes of filler per saved frame: a costly run's frames are a few KB each


def _cookie(user) -> tuple[bytes, bytes]:
    session = SessionStore()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), "kata.accounts.AccountBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return (b"cookie", f"sessionid={session.session_key}".encode())


async def _finished_run(frames: int) -> tuple[object, Run, tuple[bytes, bytes]]:
    """A learner's graded run with `frames` saved frames, and the learner's session cookie."""
    kata, _ = await sync_to_async(kata_load_fixture)(path=Path("fixtures/status-cache/kata.json"))
    learner = await sync_to_async(make_persona)("learner")
    attempt = await Attempt.objects.acreate(learner=learner, kata=kata, design={})
    run = await Run.objects.acreate(attempt=attempt, seeds=[1], status="succeeded", passed=1, total=1,
                                    grade={"scenarios": []})
    await RunFrame.objects.abulk_create([
        RunFrame(run=run, seq=seq, payload={"type": "frame", "seq": seq, "execution": 1, "progress": seq / frames,
                                            "t": float(seq), "points": [{"t": float(seq), "pad": "x" * FRAME_PAD}]})
        for seq in range(1, frames + 1)
    ])
    return learner, run, await sync_to_async(_cookie)(learner)


def _socket(path: str, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, *headers])


async def _drain(socket: WebsocketCommunicator, *, timeout: float = 0.5) -> list[dict]:
    """What the server has sent so far, without acknowledging any of it."""
    out: list[dict] = []
    while not await socket.receive_nothing(timeout=timeout):  # (a timed-out receive would stop the application)
        out.append(await socket.receive_output())
        if out[-1]["type"] == "websocket.close":
            break
    return out


async def test_a_replay_sends_a_bounded_window_to_a_client_that_does_not_acknowledge():
    _, run, cookie = await _finished_run(frames=300)  # ~1.2 MB saved, several windows
    socket = _socket(f"/ws/runs/{run.pk}/", cookie)
    assert (await socket.connect())[0]
    sent = await _drain(socket)
    texts = [m["text"] for m in sent if m["type"] == "websocket.send"]
    frames = [json.loads(t) for t in texts]
    assert frames and all(f["type"] == "frame" for f in frames), "no status before the frames are taken"
    assert sum(map(len, texts)) <= RunConsumer.WINDOW_BYTES + len(texts[-1])
    assert len(frames) < 300
    await socket.disconnect()


async def test_an_acknowledging_client_gets_every_frame_in_order_then_the_grade():
    _, run, cookie = await _finished_run(frames=300)
    socket = _socket(f"/ws/runs/{run.pk}/", cookie)
    assert (await socket.connect())[0]
    messages = []
    while not messages or messages[-1]["type"] != "status":
        message = await socket.receive_json_from(timeout=5)
        messages.append(message)
        if message["type"] == "frame":
            await socket.send_json_to({"type": "ack", "seq": message["seq"]})
    assert [m["seq"] for m in messages if m["type"] == "frame"] == list(range(1, 301))
    assert [m["type"] for m in messages[-2:]] == ["grade", "status"]
    await socket.disconnect()


async def test_a_client_that_stops_reading_is_closed_and_forgotten(monkeypatch):
    monkeypatch.setattr(RunConsumer, "STALL_SECONDS", 0.5)
    monkeypatch.setattr(RunConsumer, "CATCH_UP_SECONDS", 0.2)
    learner, run, cookie = await _finished_run(frames=300)
    socket = _socket(f"/ws/runs/{run.pk}/", cookie)
    assert (await socket.connect())[0]
    sent = await _drain(socket, timeout=3)
    assert sent[-1] == {"type": "websocket.close", "code": 4408}
    assert socket_guard().open_count(user_id=learner.pk) == 0
    await socket.disconnect(code=4408)  # what the server then tells the application


async def test_a_learner_holds_at_most_two_sockets_on_a_run_the_oldest_is_replaced():
    _, run, cookie = await _finished_run(frames=1)
    sockets = [_socket(f"/ws/runs/{run.pk}/", cookie) for _ in range(3)]
    for socket in sockets:
        assert (await socket.connect())[0]
        await _drain(socket, timeout=0.2)
    closed = await _drain(sockets[0], timeout=1)
    assert closed[-1] == {"type": "websocket.close", "code": 4409}
    assert json.loads(closed[0]["text"])["message"] == "This run is open in another window or tab."
    for socket in sockets[1:]:  # the newer ones stay open and answered
        await socket.send_json_to({"type": "nonsense"})
        assert (await socket.receive_json_from())["type"] == "error"
        await socket.disconnect()


async def test_a_learner_holds_at_most_six_sockets_in_all():
    learner, _, cookie = await _finished_run(frames=1)
    sockets = [_socket("/ws/ping/", cookie) for _ in range(7)]
    for socket in sockets:
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from())["type"] == "hello"
    assert (await _drain(sockets[0], timeout=1))[-1] == {"type": "websocket.close", "code": 4409}

    assert socket_guard().open_count(user_id=learner.pk) == 6
    for socket in sockets[1:]:
        await socket.disconnect()


async def test_opening_sockets_in_a_loop_is_refused_for_a_while(settings):
    settings.KATA_SOCKET_OPENS_PER_MINUTE = 5

    socket_guard_reset()
    _, run, cookie = await _finished_run(frames=1)
    for _ in range(5):
        socket = _socket(f"/ws/runs/{run.pk}/", cookie)
        assert (await socket.connect())[0]
        await socket.disconnect()
    socket = _socket(f"/ws/runs/{run.pk}/", cookie)
    assert (await socket.connect())[0]
    refused = await _drain(socket, timeout=1)
    assert refused[-1] == {"type": "websocket.close", "code": 4429}
    assert "Too many connections" in json.loads(refused[0]["text"])["message"]
    # Another learner is not held back by the first one's loop.
    other = await sync_to_async(make_persona)("other_learner")
    ping = _socket("/ws/ping/", await sync_to_async(_cookie)(other))
    assert (await ping.connect())[0]
    assert (await ping.receive_json_from())["type"] == "hello"
    await ping.disconnect()


@pytest.mark.parametrize("text", ["[" * 2000 + "]" * 2000,
                                  '{"type": ' * 1000 + "1" + "}" * 1000, "[1, 2, NaN]", '"just a string"', "null",
                                  '{"type": "ping", "seq": true}', '{"type": "ping", "seq": 1e400}'])
async def test_socket_messages_of_any_shape_are_answered_with_an_error_frame(text):
    learner, _, cookie = await _finished_run(frames=1)
    socket = _socket("/ws/ping/", cookie)
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["type"] == "hello"
    await socket.send_to(text_data=text)
    assert (await socket.receive_json_from())["type"] == "error"
    await socket.send_json_to({"type": "ping", "seq": 1})  # still open, still answering
    assert await socket.receive_json_from() == {"type": "pong", "seq": 1}
    await socket.disconnect()


@pytest.mark.parametrize("origin, host, accepted", [
    (b"http://localhost:8000", b"localhost:8000", True),
    (b"http://localhost", b"localhost:80", True),
    (b"http://localhost:8001", b"localhost:8000", False),  # another port of the same host
    (b"https://localhost:8000", b"localhost:8000", False),  # another scheme
    (b"http://127.0.0.1:8000", b"localhost:8000", False),  # another host, allowed as it may be
    (b"null", b"localhost:8000", False),
    (b"http://evil.example:8000", b"evil.example:8000", False),  # the host header is checked too
])
async def test_the_socket_origin_must_be_this_site_scheme_host_and_port(origin, host, accepted):
    learner, _, cookie = await _finished_run(frames=1)
    socket = WebsocketCommunicator(application, "/ws/ping/", headers=[(b"origin", origin), (b"host", host), cookie])
    connected, _ = await socket.connect()
    assert connected is accepted
    if connected:
        await socket.disconnect()
