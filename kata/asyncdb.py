"""Database calls from async code (the Run endpoint, the run socket).

By default sync code called from async code shares one thread, so a class pressing Run together queues on it. With
`KATA_PARALLEL_DB_CALLS` (the default) those calls run on the shared thread pool instead, each thread with its own
connection, closed or reused by Channels' `database_sync_to_async`. The test settings turn it off: a test runs inside
one transaction on one connection, which another thread's connection cannot see (and which must not be closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings


def db(func: Callable[..., Any]) -> Any:
    if settings.KATA_PARALLEL_DB_CALLS:
        return database_sync_to_async(func, thread_sensitive=False)
    return sync_to_async(func)
