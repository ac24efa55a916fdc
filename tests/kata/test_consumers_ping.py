"""The WebSocket harness: the real ASGI application (auth middleware, origin validator, router)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application
from tests.personas import make_persona

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")


def _session_cookie(user) -> tuple[bytes, bytes]:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "kata.accounts.AccountBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return (b"cookie", f"sessionid={session.session_key}".encode())


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_logged_in_user_is_greeted_and_answered():

    user = await sync_to_async(make_persona)("learner")
    cookie = await sync_to_async(_session_cookie)(user)
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[ORIGIN, HOST, cookie])
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"type": "hello", "username": "learner"}
    await communicator.send_json_to({"type": "ping", "seq": 7})
    assert await communicator.receive_json_from() == {"type": "pong", "seq": 7}
    await communicator.send_json_to({"type": "ping", "seq": "seven"})
    reply = await communicator.receive_json_from()
    assert reply["type"] == "error" and "seq" in reply["message"]
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_anonymous_socket_is_closed():
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[ORIGIN, HOST])
    connected, _ = await communicator.connect()
    # Accepted, then closed with the reason: a socket refused in its handshake reaches the browser as 1006.
    assert connected
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4401}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_foreign_origin_socket_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/ping/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected
