"""Thin WebSocket consumers: check the user, forward messages; no work on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from kata import selectors, services
from kata.asyncdb import db
from kata.messages import ErrorMessage, GradeMessage, HelloMessage, PongMessage, StatusMessage
from kata.models import Run
from kata.runs import run_group

# 44xx mirror HTTP statuses in the private close-code range, so the browser can tell why it was closed.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
MAX_MESSAGE_BYTES = 4096
FINISHED_STATUSES = (Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.CANCELLED)


class _JsonConsumer(AsyncJsonWebsocketConsumer):
    """Answers malformed input with an error frame instead of dropping the connection."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self.send_json(ErrorMessage(type="error", message=f"Send JSON text messages of at most {MAX_MESSAGE_BYTES} bytes."))
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; deep nesting recurses
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
    """Streams one run to its learner: the frames so far from the database, then live frames as they come.

    Live frames come through the channel layer; the database is the record. Whenever the stream has been quiet for
    a moment, the consumer reads what it has not sent yet straight from the database, so a frame or a final status
    lost on the way (a Redis restart, a worker that published while the layer was down) still arrives, and a run
    whose executor vanished is failed with a reason instead of leaving the page waiting.
    """

    run: Run
    CATCH_UP_SECONDS = 2.0

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        run = await db(selectors.run_get_for_learner)(learner=user, run_id=self.scope["url_route"]["kwargs"]["run_id"])
        if run is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.run = run
        self.last_seq = 0
        self.finished = False
        self.heard = False
        self.status_sent: tuple[str, str] = ("", "")
        # Join first, then replay: a frame sent in between arrives twice, and is sent once (see `_send_frame`).
        await self.channel_layer.group_add(run_group(run.pk), self.channel_name)
        await self.accept()
        await self._catch_up()
        if not self.finished:
            self.catching_up = asyncio.create_task(self._catch_up_while_quiet())

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        if frame["seq"] <= self.last_seq:
            return  # sent already (replayed and live, or live twice)
        self.last_seq = frame["seq"]
        await self.send_json(frame)

    async def _send_missed_frames(self) -> None:
        for frame in await db(selectors.run_frames)(run=self.run, after=self.last_seq):
            await self._send_frame(frame)

    async def _catch_up(self) -> None:
        """Send the saved frames not sent yet, then the run's state; notes whether the run has finished."""
        await self._send_missed_frames()
        run = await db(Run.objects.get)(pk=self.run.pk)
        if run.status == Run.Status.SUCCEEDED:
            await self.send_json(GradeMessage(type="grade", passed=run.passed or 0, total=run.total or 0, grade=run.grade))
        self.finished = run.status in FINISHED_STATUSES
        message = run.error_message
        if run.status == Run.Status.QUEUED:
            message = await db(selectors.run_waiting_message)(run=run)
        if (run.status, message) != self.status_sent:  # a quiet check that finds nothing new says nothing
            self.status_sent = (run.status, message)
            await self.send_json(StatusMessage(type="status", status=run.status, message=message))

    async def _catch_up_while_quiet(self) -> None:
        while not self.finished:
            await asyncio.sleep(self.CATCH_UP_SECONDS)
            if self.heard:
                self.heard = False
                continue
            await db(services.runs_expire_stale)(run_id=self.run.pk)
            await self._catch_up()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "catching_up"):
            self.catching_up.cancel()
        if hasattr(self, "run"):
            with contextlib.suppress(Exception):  # the layer may be the reason the socket closed
                await self.channel_layer.group_discard(run_group(self.run.pk), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "cancel":
            cancelled = await db(services.run_cancel)(run=self.run)
            if not cancelled:
                await self.send_json(ErrorMessage(type="error", message="This run is not running any more."))
            return
        await self.send_json(ErrorMessage(type="error", message='The only message a run accepts is {"type": "cancel"}.'))

    async def run_message(self, event: dict[str, Any]) -> None:
        message = event["message"]
        self.heard = True
        if message.get("type") == "frame":
            if message["seq"] > self.last_seq + 1:  # some went missing on the way: the database has them
                await self._send_missed_frames()
            await self._send_frame(message)
            return
        if message.get("type") == "status":
            self.status_sent = (message.get("status", ""), message.get("message", ""))
            self.finished = self.status_sent[0] in FINISHED_STATUSES
        await self.send_json(message)
