"""A circuit breaker on a buffer's consumers (the callers of what lies downstream of it); see `model.Breaker`."""

from __future__ import annotations

from collections import deque

from ..model import Breaker

__all__ = ["CircuitBreaker"]

CLOSED, OPEN, HALF_OPEN = 0, 1, 2


class CircuitBreaker:
    """The breaker's state. A call's outcome is recorded when its consumer's hold ends: a failure when the request
    fails downstream (`failed`), a success otherwise (`succeeded`: it left the network or reached another buffer)."""

    __slots__ = ("spec", "state", "until", "calls", "fails", "probes_started", "probes_ok", "opened",
                 "short_circuited", "mute", "own")

    def __init__(self, spec: Breaker) -> None:
        self.spec = spec
        self.state = CLOSED
        self.until = 0.0  # end of the open state
        self.calls: deque[tuple[float, bool]] = deque()  # (time, failed) of the outcomes in the window (closed)
        self.fails = 0
        self.probes_started = self.probes_ok = 0
        self.opened = 0  # times it opened
        self.short_circuited = 0  # calls failed fast while open (or half-open with its probes out)
        self.mute = False  # the next release is a failure's, already recorded
        self.own = False  # the next failure is this breaker's fast fail: not a call's outcome

    def allow(self, now: float) -> bool:
        """May a consumer make its call now? False: it fails fast (and the caller reports it with `failed`)."""
        if self.state == OPEN:
            if now < self.until:
                return self._refuse()
            self.state = HALF_OPEN
            self.probes_started = self.probes_ok = 0
        if self.state == HALF_OPEN:
            if self.probes_started >= self.spec.probes:
                return self._refuse()
            self.probes_started += 1
        return True

    def _refuse(self) -> bool:
        self.short_circuited += 1
        self.own = True
        return False

    def failed(self, now: float) -> None:
        """A call failed (or was failed fast, which is no call's outcome)."""
        self.mute = True
        if self.own:
            self.own = False
            return
        self._record(now, True)

    def succeeded(self, now: float) -> None:
        """A consumer's hold ended without a failure (unless `failed` just said otherwise)."""
        if self.mute:
            self.mute = False
            return
        self._record(now, False)

    def _record(self, now: float, failed: bool) -> None:
        spec = self.spec
        if self.state == OPEN:
            return
        if self.state == HALF_OPEN:  # an outcome while half-open counts as a probe's
            if failed:
                self._trip(now)
            else:
                self.probes_ok += 1
                if self.probes_ok >= spec.probes:
                    self.state = CLOSED
            return
        calls = self.calls
        calls.append((now, failed))
        if failed:
            self.fails += 1
        cut = now - spec.window
        while calls[0][0] < cut:
            if calls.popleft()[1]:
                self.fails -= 1
        if failed and len(calls) >= spec.min_calls and self.fails >= spec.failure_rate * len(calls):
            self._trip(now)

    def _trip(self, now: float) -> None:
        self.state = OPEN
        self.until = now + self.spec.open_for
        self.opened += 1
        self.calls.clear()
        self.fails = 0
