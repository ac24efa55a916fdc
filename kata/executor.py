"""Where runs execute.

- The embedded default ("inprocess"): a small thread pool in the web process, seeds in its warm process pool.
  Frames are published on the server's event loop (`run_coroutine_threadsafe`), because the in-memory channel layer
  belongs to that loop and is not safe to touch from another thread.
- Production mode ("celery"): the run is a Celery task (kata/tasks.py) on a Redis broker; a worker executes it and
  publishes frames through channels-redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from kata.models import Run
from kata.runs import Publish, frames_prune_now_and_then, run_execute, run_group

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_SECONDS = 2
QUEUE_UNREACHABLE_MESSAGE = ("The run queue could not be reached, so this run did not start. Your attempt and design "
                             "are saved: run it again in a moment.")


def _new_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="kata-run")


def _new_enqueuers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="kata-enqueue")


_threads = _new_threads()
_enqueuers = _new_enqueuers()
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _forget_after_fork() -> None:
    # A forked copy (a test's live server, a Celery worker's child) inherits the pool's bookkeeping and the publishing
    # loop, but not their threads: submitted work would wait for them forever.
    global _threads, _enqueuers, _loop, _loop_lock
    _threads, _enqueuers, _loop, _loop_lock = _new_threads(), _new_enqueuers(), None, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def publisher(run_id: int, loop: asyncio.AbstractEventLoop) -> Publish:
    """Publish a run's messages to its group, on `loop`; a failure is logged, never raised.

    The frames are saved before they are published, so a socket that missed one (a slow client, a Redis restart)
    gets it on its next replay.
    """
    layer = get_channel_layer()
    group = run_group(run_id)

    def publish(message: dict[str, Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, {"type": "run.message", "message": message}), loop)
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


def _execute(run_id: int, loop: asyncio.AbstractEventLoop) -> None:
    try:
        run_execute(run_id, publish=publisher(run_id, loop), worker=f"web pid {os.getpid()}")
        frames_prune_now_and_then()
    finally:
        close_old_connections()


def _enqueue(run_id: int) -> bool:
    try:
        from kata.tasks import run_simulate

        run_simulate.apply_async((run_id,), retry=True, retry_policy={"max_retries": 3, "interval_start": 0.2,
                                                                      "interval_step": 0.5, "interval_max": 1.0})
    except Exception:
        log.exception("run %s: could not be queued", run_id)
        Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.FAILED, error_message=QUEUE_UNREACHABLE_MESSAGE, finished_at=timezone.now())
        return False
    return True


def _enqueue_in_background(run_id: int) -> None:
    try:
        _enqueue(run_id)
    finally:
        close_old_connections()


async def run_submit(run_id: int) -> None:
    """Start a saved, queued run off the event loop, without making the learner wait for it.

    Production mode hands the run to the broker from a small thread pool: in a burst, publishing one message after
    another would hold every answer back. A run that cannot be queued is failed with a reason the socket tells.
    """
    if settings.KATA_RUN_EXECUTOR == "celery":
        _enqueuers.submit(_enqueue_in_background, run_id)
    else:
        _threads.submit(_execute, run_id, asyncio.get_running_loop())
