"""Where runs execute. The embedded default: a small thread pool in the web process (seeds in a process pool).

Frames are published on the server's event loop (`run_coroutine_threadsafe`), because the in-memory channel layer
belongs to that loop and is not safe to touch from another thread.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.layers import get_channel_layer
from django.db import close_old_connections

from kata.runs import run_execute, run_group

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_SECONDS = 5

_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kata-run")


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
