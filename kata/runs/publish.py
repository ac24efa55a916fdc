"""The channel contract of a run: the group its messages go to, and the publisher that sends them there.

The consumer needs only `run_group`; this module imports nothing of the execution stack.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer

from kata.messages import StatusMessage

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 2

Publish = Callable[[dict[str, Any]], None]

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _forget_after_fork() -> None:
    # A forked copy (a test's live server, a Celery worker's child) inherits the loop but not its thread.
    global _loop, _loop_lock
    _loop, _loop_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def status_publish(publish: Publish, status: str, message: str = "") -> None:
    publish(dict(StatusMessage(type="status", status=status, message=message)))


class Published(dict):  # type: ignore[type-arg]
    """A message as every socket of its run gets it: the same object, not a copy each. The in-memory channel layer
    deep-copies what it is sent, once per socket, on the event loop that answers every learner; frames are most of
    a class's traffic, and nothing changes a message once it is published. (Redis serializes it like any dict.)"""

    def __deepcopy__(self, memo: dict[int, Any]) -> Published:
        return self


def publisher(run_id: int, loop: asyncio.AbstractEventLoop) -> Publish:
    """Publish a run's messages to its group, on `loop`; a failure is logged, never raised.

    The frames are saved before they are published, so a socket that missed one (a slow client, a Redis restart)
    gets it on its next replay.
    """
    layer = get_channel_layer()
    group = run_group(run_id)

    def publish(message: dict[str, Any]) -> None:
        sent = layer.group_send(group, Published(type="run.message", message=Published(message)))
        future = asyncio.run_coroutine_threadsafe(sent, loop)
        try:
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except Exception as exc:
            future.cancel()
            log.warning("run %s: could not publish a %s message (%s)", run_id, message.get("type"), exc)

    return publish


def publishing_loop() -> asyncio.AbstractEventLoop:
    """An event loop of this process's own, on a daemon thread: the channel layer's connections live on it."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="kata-publish", daemon=True).start()
        return _loop
