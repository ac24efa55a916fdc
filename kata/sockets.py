"""Fair sharing of a web process's sockets: how many each learner holds open, and how often they open new ones.

Every socket replays what it has not sent yet and then follows the run, which costs the server memory and CPU; an
account opening sockets without end (or reconnecting in a loop) would take that from every other learner. So each
learner may hold a few sockets per run and a few in all; a new one beyond that replaces the learner's oldest (a
reload must always win over the page it replaces), and opening sockets faster than a page ever does is refused for
a moment.

The counts are per web process, kept on its event loop (consumers run there, so no lock): with N Daphne processes a
learner holds at most N times the bounds.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class Admission:
    allowed: bool
    evict: tuple[str, ...] = ()  # channel names of the learner's older sockets to close
    retry_after: float = 0.0


@dataclass
class _Open:
    channel: str
    run_id: int | None


@dataclass
class SocketGuard:
    per_user: int
    per_run: int
    opens_per_minute: int
    _open: dict[int, list[_Open]] = field(default_factory=dict)  # per user, oldest first
    _opens: dict[int, deque[float]] = field(default_factory=dict)

    def admit(self, *, user_id: int, channel: str, run_id: int | None, now: float | None = None) -> Admission:
        """Whether a new socket may open; when it may, it is counted and the sockets it replaces are named."""
        now = time.monotonic() if now is None else now
        opens = self._opens.setdefault(user_id, deque())
        while opens and opens[0] <= now - 60:
            opens.popleft()
        if len(opens) >= self.opens_per_minute:
            return Admission(False, retry_after=max(1.0, 60 - (now - opens[0])))
        opens.append(now)
        sockets = self._open.setdefault(user_id, [])
        evict: list[str] = []
        same_run = [s for s in sockets if run_id is not None and s.run_id == run_id]
        while len(same_run) >= self.per_run:
            evict.append(same_run.pop(0).channel)
        while len(sockets) - len(evict) >= self.per_user:
            oldest = next(s for s in sockets if s.channel not in evict)
            evict.append(oldest.channel)
        sockets[:] = [s for s in sockets if s.channel not in evict]
        sockets.append(_Open(channel, run_id))
        return Admission(True, evict=tuple(evict))

    def release(self, *, user_id: int, channel: str) -> None:
        sockets = self._open.get(user_id)
        if sockets is None:
            return
        sockets[:] = [s for s in sockets if s.channel != channel]
        if not sockets:
            del self._open[user_id]

    def open_count(self, *, user_id: int) -> int:
        return len(self._open.get(user_id, ()))

    def clear(self) -> None:
        self._open.clear()
        self._opens.clear()


_guard: SocketGuard | None = None


def socket_guard() -> SocketGuard:
    """This process's guard, with the bounds the settings name."""
    global _guard
    if _guard is None:
        _guard = SocketGuard(per_user=settings.KATA_SOCKETS_PER_USER, per_run=settings.KATA_SOCKETS_PER_RUN,
                             opens_per_minute=settings.KATA_SOCKET_OPENS_PER_MINUTE)
    return _guard


def socket_guard_reset() -> None:
    """Forget every count and take the bounds from the settings again (tests)."""
    global _guard
    _guard = None
