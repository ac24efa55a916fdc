"""Thin WebSocket consumers: check the user, forward messages; no work on the event loop."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from kata import selectors, services
from kata.messages import ErrorMessage, GradeMessage, HelloMessage, PongMessage, StatusMessage
from kata.models import Run
from kata.runs import run_group

# 44xx mirror HTTP statuses in the private close-code range, so the browser can tell why it was closed.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
MAX_MESSAGE_BYTES = 4096


class _JsonConsumer(AsyncJsonWebsocketConsumer):
    """Answers malformed input with an error frame instead of dropping the connection."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self.send_json(ErrorMessage(type="error", message=f"Send JSON text messages of at most {MAX_MESSAGE_BYTES} bytes."))
            return
        try:
            content = json.loads(text_data)
        except json.JSONDecodeError:
            await self.send_json(ErrorMessage(type="error", message="That message is not valid JSON."))
            return
        await self.receive_json(content)


class PingConsumer(_JsonConsumer):
    """Lets a page show whether its live connection is up."""

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


class RunConsumer(_JsonConsumer):
    """Streams one run to its learner: the frames so far from the database, then live frames as they come."""

    run: Run

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        run = await database_sync_to_async(selectors.run_get_for_learner)(learner=user, run_id=self.scope["url_route"]["kwargs"]["run_id"])
        if run is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.run = run
        # Join first, then replay: a frame sent in between arrives twice, and the page drops repeated seq numbers.
        await self.channel_layer.group_add(run_group(run.pk), self.channel_name)
        await self.accept()
        for frame in await database_sync_to_async(selectors.run_frames)(run=run):
            await self.send_json(frame)
        await self._send_state()

    async def _send_state(self) -> None:
        run = await database_sync_to_async(Run.objects.get)(pk=self.run.pk)
        if run.status == Run.Status.SUCCEEDED:
            await self.send_json(GradeMessage(type="grade", passed=run.passed or 0, total=run.total or 0, grade=run.grade))
        await self.send_json(StatusMessage(type="status", status=run.status, message=run.error_message))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "run"):
            await self.channel_layer.group_discard(run_group(self.run.pk), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "cancel":
            cancelled = await database_sync_to_async(services.run_cancel)(run=self.run)
            if not cancelled:
                await self.send_json(ErrorMessage(type="error", message="This run is not running any more."))
            return
        await self.send_json(ErrorMessage(type="error", message='The only message a run accepts is {"type": "cancel"}.'))

    async def run_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event["message"])
