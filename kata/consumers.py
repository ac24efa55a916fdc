"""Thin WebSocket consumers: check the user, forward messages; no work on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from kata import selectors, services
from kata.asyncdb import db
from kata.messages import (CLOSE_NOT_FOUND, CLOSE_NOT_READING, CLOSE_REPLACED, CLOSE_TOO_MANY, CLOSE_UNAUTHENTICATED,
                           ErrorMessage, GradeMessage, HelloMessage, PongMessage, StatusMessage)
from kata.models import Run
from kata.runs.lease import runs_expire_stale
from kata.runs.publish import run_group
from kata.sockets import socket_guard

MAX_MESSAGE_BYTES = 4096


class _JsonConsumer(AsyncJsonWebsocketConsumer):
    """Answers input of any shape with an error frame instead of dropping the connection.

    A socket is accepted before it is refused, so that the browser sees the close code (see kata/messages.py). A
    learner's sockets are counted and the rate they open them bounded (see kata/sockets.py).
    """

    guarded_user: int | None = None

    async def refuse(self, code: int, message: str = "") -> None:
        await self.accept()
        if message:
            await self.send_json(ErrorMessage(type="error", message=message))
        await self.close(code=code)

    async def admit(self, user: Any, run_id: int | None = None) -> bool:
        """Count this socket as the user's, closing the older ones it replaces; False (and closed) when refused."""
        admission = socket_guard().admit(user_id=user.pk, channel=self.channel_name, run_id=run_id)
        if not admission.allowed:
            await self.refuse(CLOSE_TOO_MANY,
                              f"Too many connections at once; try again in {admission.retry_after:.0f} s.")
            return False
        self.guarded_user = user.pk
        for channel in admission.evict:
            with contextlib.suppress(Exception):  # a socket already gone needs no closing
                await self.channel_layer.send(channel, {"type": "socket.replaced"})
        return True

    async def socket_replaced(self, event: dict[str, Any]) -> None:
        await self.send_json(ErrorMessage(type="error", message="This run is open in another window or tab."))
        await self.close(code=CLOSE_REPLACED)

    def _release(self) -> None:
        if self.guarded_user is not None:
            socket_guard().release(user_id=self.guarded_user, channel=self.channel_name)
            self.guarded_user = None

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self._release()  # counted no more from now: a client that does not read may take long to see the close
        await super().close(code=code, reason=reason)

    async def disconnect(self, code: int) -> None:
        self._release()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self.send_json(ErrorMessage(
                type="error", message=f"Send JSON text messages of at most {MAX_MESSAGE_BYTES} bytes."))
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            await self.send_json(ErrorMessage(type="error", message="That message is not valid JSON."))
            return
        await self.receive_json(content)


class PingConsumer(_JsonConsumer):
    """Lets a page show whether its live connection is up."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        if not await self.admit(user):
            return
        await self.accept()
        await self.send_json(HelloMessage(type="hello", username=user.get_username()))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "ping" or type(content.get("seq")) is not int:
            await self.send_json(ErrorMessage(type="error", message='Expected {"type": "ping", "seq": <integer>}.'))
            return
        await self.send_json(PongMessage(type="pong", seq=content["seq"]))


class RunConsumer(_JsonConsumer):
    """Streams one run to its learner: the frames so far from the database, then live frames as they come.

    Live frames come through the channel layer; the database is the record. Whenever the stream has been quiet for
    a moment, the consumer reads what it has not sent yet straight from the database, so a frame or a final status
    lost on the way (a Redis restart, a worker that published while the layer was down) still arrives, and a run
    whose executor vanished is failed with a reason instead of leaving the page waiting.

    Back-pressure: the page acknowledges the frames it has (`{"type": "ack", "seq": n}`), and the socket keeps at
    most WINDOW_BYTES of frames unacknowledged; the rest waits in the database, read in batches as acks come. A
    client that stops acknowledging for STALL_SECONDS is closed, so what the server holds for it is bounded and
    freed.
    """

    run: Run
    CATCH_UP_SECONDS = 2.0
    WINDOW_BYTES = 256 * 1024
    BATCH_FRAMES = 32
    STALL_SECONDS = 15.0

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        if not await self.admit(user, run_id):
            return
        run = await db(selectors.run_get_for_learner)(learner=user, run_id=run_id)
        if run is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        self.run = run
        self.last_seq = 0
        self.in_flight: deque[tuple[int, int]] = deque()  # (seq, bytes) sent and not acknowledged yet
        self.in_flight_bytes = 0
        self.acked_at = time.monotonic()
        self.behind = False  # frames wait in the database for room in the window
        self.finished = False
        self.heard = False
        self.status_sent: tuple[str, str] = ("", "")
        self.sending = asyncio.Lock()
        # Join first, then replay: a frame sent in between arrives twice, and is sent once (see `_send_frame`).
        await self.channel_layer.group_add(run_group(run.pk), self.channel_name)
        await self.accept()
        await self._catch_up()
        self.watching = asyncio.create_task(self._watch())

    def _room(self) -> bool:
        return self.in_flight_bytes < self.WINDOW_BYTES

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        if frame["seq"] <= self.last_seq:
            return  # sent already (replayed and live, or live twice)
        self.last_seq = frame["seq"]
        text = json.dumps(frame)
        self.in_flight.append((frame["seq"], len(text)))
        self.in_flight_bytes += len(text)
        await self.send(text_data=text)

    async def _send_missed_frames(self) -> bool:
        """Saved frames not sent yet, batch by batch while the window has room; True once none is left."""
        while self._room():
            batch = await db(selectors.run_frames)(run=self.run, after=self.last_seq, limit=self.BATCH_FRAMES)
            for frame in batch:
                if not self._room():
                    return False
                await self._send_frame(frame)
            if len(batch) < self.BATCH_FRAMES:
                return True
        return False

    async def _catch_up(self) -> None:
        """Send the saved frames not sent yet, then the run's state; notes whether the run has finished."""
        async with self.sending:
            self.behind = not await self._send_missed_frames()
            if self.behind:
                return  # the state follows the frames, once the page has taken them
            run = await db(Run.objects.get)(pk=self.run.pk)
            if run.status == Run.Status.SUCCEEDED and self.status_sent[0] != run.status:
                await self.send_json(GradeMessage(type="grade", passed=run.passed or 0, total=run.total or 0,
                                                  grade=run.grade))
            self.finished = run.status in Run.FINISHED_STATUSES
            message = run.error_message
            if run.status == Run.Status.QUEUED:
                message = await db(selectors.run_waiting_message)(run=run)
            if (run.status, message) != self.status_sent:  # a quiet check that finds nothing new says nothing
                self.status_sent = (run.status, message)
                await self.send_json(StatusMessage(type="status", status=run.status, message=message))

    async def _watch(self) -> None:
        while not (self.finished and not self.behind):
            await asyncio.sleep(self.CATCH_UP_SECONDS)
            if not self._room() and time.monotonic() - self.acked_at > self.STALL_SECONDS:
                await self.close(code=CLOSE_NOT_READING)
                return
            if self.heard or self.behind:  # live frames are coming, or the page has yet to take what it was sent
                self.heard = False
                continue
            await db(runs_expire_stale)(run_id=self.run.pk)
            await self._catch_up()

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if hasattr(self, "watching"):
            self.watching.cancel()
        if hasattr(self, "run"):
            self.in_flight.clear()
            with contextlib.suppress(Exception):  # the layer may be the reason the socket closed
                await self.channel_layer.group_discard(run_group(self.run.pk), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ack" and type(content.get("seq")) is int:
            await self._acknowledged(content["seq"])
            return
        if kind == "cancel":
            cancelled = await db(services.run_cancel)(run=self.run)
            if not cancelled:
                await self.send_json(ErrorMessage(type="error", message="This run is not running any more."))
            return
        await self.send_json(ErrorMessage(
            type="error", message='A run accepts {"type": "cancel"} and {"type": "ack", "seq": <integer>}.'))

    async def _acknowledged(self, seq: int) -> None:
        while self.in_flight and self.in_flight[0][0] <= seq:
            self.in_flight_bytes -= self.in_flight.popleft()[1]
        self.acked_at = time.monotonic()
        # Resume once half the window is free: one database read then fills it again, rather than one per ack.
        if self.behind and self.in_flight_bytes <= self.WINDOW_BYTES // 2:
            await self._catch_up()

    async def run_message(self, event: dict[str, Any]) -> None:
        message = event["message"]
        self.heard = True
        if message.get("type") == "frame":
            if self.behind or not self._room():
                self.behind = True  # it is saved: sent from the database once the page has room for it
                return
            async with self.sending:
                if message["seq"] > self.last_seq + 1:  # some went missing on the way: the database has them
                    self.behind = not await self._send_missed_frames()
                if not self.behind and self._room():
                    await self._send_frame(message)
            return
        if self.behind:
            return  # the run's state goes after its frames (`_catch_up` reads it from the database)
        if message.get("type") == "status":
            self.status_sent = (message.get("status", ""), message.get("message", ""))
            self.finished = self.status_sent[0] in Run.FINISHED_STATUSES
        await self.send_json(message)
