"""Where runs execute. The embedded default: a small thread pool in the web process (seeds in a process pool).

Frames are published on the server's event loop (`run_coroutine_threadsafe`), because the in-memory channel layer
belongs to that loop and is not safe to touch from another thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.layers import get_channel_layer
from django.db import close_old_connections

from kata.runs import run_execute, run_group

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_SECONDS = 5

def _new_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="kata-run")


_threads = _new_threads()


def _forget_after_fork() -> None:
    # A forked copy (a test's live server) inherits the pool's bookkeeping, which counts idle threads that do not
    # exist in the copy: submitted runs would wait for them forever.
    global _threads
    _threads = _new_threads()


os.register_at_fork(after_in_child=_forget_after_fork)


def _execute(run_id: int, loop: asyncio.AbstractEventLoop) -> None:
    layer = get_channel_layer()
    group = run_group(run_id)

    def publish(message: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, {"type": "run.message", "message": message}), loop)
        try:
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except Exception:  # a slow or closed socket must not stop the run: the frames are saved anyway
            log.warning("run %s: could not publish a %s message", run_id, message.get("type"))

    try:
        run_execute(run_id, publish=publish)
    finally:
        close_old_connections()


def run_submit(run_id: int, *, loop: asyncio.AbstractEventLoop) -> None:
    """Start a saved, queued run off the event loop."""
    _threads.submit(_execute, run_id, loop)
