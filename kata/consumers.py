"""Thin WebSocket consumers: check the user, forward messages; no work on the event loop."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from kata.messages import ErrorMessage, HelloMessage, PongMessage

# 4401/4403 mirror HTTP 401/403 in the private close-code range, so the browser can tell why it was closed.
CLOSE_UNAUTHENTICATED = 4401


class PingConsumer(AsyncJsonWebsocketConsumer):
    """Lets the workspace show whether its live connection is up."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()
        await self.send_json(HelloMessage(type="hello", username=user.get_username()))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping" or not isinstance(content.get("seq"), int):
            await self.send_json(ErrorMessage(type="error", message='Expected {"type": "ping", "seq": <integer>}.'))
            return
        await self.send_json(PongMessage(type="pong", seq=content["seq"]))
