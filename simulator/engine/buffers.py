"""Buffers at run time: consumers hold their slot while the request travels downstream.

* Buffer (kind "buffer"): `servers` = consumers. A consumer takes the message (slot taken), serves it for the
  buffer's service time (default 0) and HOLDS the slot while the request travels downstream, until the request
  (a) leaves the network, (b) is admitted into another buffer (which takes over) or (c) errors downstream. On (c),
  with attempts < retry.max_attempts the slot is released and the request re-enters this buffer after
  `RetryPolicy.delay(attempts)`; a full buffer at re-entry drops it; out of attempts -> "failed" if acknowledged,
  else "error". Without a retry policy: "failed" if acknowledged, else "error". Buffer capacity counts waiting
  messages plus messages held by consumers; a request rejected by a full buffer ends "dropped" if acknowledged,
  else "error".
* Acknowledgement: accept latency = arrival -> arrival at the first buffer with acknowledge=true (the caller is
  answered as the message reaches the queue, so a full acknowledging buffer drops a request it has acknowledged); a
  request that never meets one has accept latency = arrival -> successful exit (synchronous path).
* A queue write (`enqueue`) takes its time, and may fail (`enqueue_error`), before the message is admitted and
  acknowledged (`EnqueueBufferNode`).
"""

from __future__ import annotations

from heapq import heappush
from typing import TYPE_CHECKING

import numpy as np

from ..distributions import ServiceSampler
from ..model import RetryPolicy, Station
from .breaker import CircuitBreaker
from .retry import RetryGate, gate_for
from .stations import Node

if TYPE_CHECKING:  # the simulation imports this module
    from .core import Simulation
    from .request import Request

__all__ = ["BufferNode", "EnqueueBufferNode", "BreakerBufferNode", "BreakerEnqueueBufferNode", "buffer_class"]


class BufferNode(Node):
    """Runtime state of a buffer: consumers hold their slot while the request travels downstream."""

    __slots__ = ("acknowledge", "retry", "on_reenter", "instant", "dispatching", "gate", "reentries", "breaker",
                 "dead_letter", "dead_letters", "idempotent")

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator) -> None:
        super().__init__(sim, idx, spec, rng)
        self.acknowledge = spec.acknowledge
        self.retry: RetryPolicy | None = spec.retry
        self.gate: RetryGate | None = gate_for(spec.retry, sim.rng.random)  # jitter, budget; None without them
        self.reentries = 0  # retries that came back: arrivals_counted - reentries = first arrivals
        self.breaker = CircuitBreaker(spec.breaker) if spec.breaker is not None else None  # BreakerBufferNode's
        self.dead_letter = spec.dead_letter is not None
        self.dead_letters = 0  # messages kept in its dead-letter queue
        self.idempotent = spec.idempotency_key
        self.on_reenter = self._reenter
        self.instant = spec.service.dist == "deterministic" and spec.service.mean == 0.0
        if self.instant:
            self.sojourns = self.waits  # no service time: a visit's sojourn is its wait, recorded once for both
        self.dispatching = False

    def arrive(self, req: Request, now: float, reentry: bool = False) -> None:
        """A request is routed to (or re-enters) the buffer."""
        self.arrivals_counted += 1
        holder = req.holder
        if holder is not None:  # admission (or rejection) here ends the upstream consumer's hold
            req.holder = None
            holder.release(now)
        if self.acknowledge and not req.acked:
            # The caller is answered as the message reaches the queue, before the queue looks for room: a full
            # acknowledging queue loses a payment it has already acknowledged. (Inlined: once per request.)
            stats = req.source
            latency = now - req.entered_at
            if latency > stats.deadline:  # the caller gave up before the write: not acknowledged, an error
                self.sim.timed_out(req, now)
                return
            req.acked = True
            if req.counted:
                stats.acked += 1
                stats.accept.append(latency)
        busy = self.busy  # read after the release above: a request looping back into its holder frees a slot
        if self.capacity is not None and busy + len(self.queue) >= self.capacity:
            self.rejected += 1
            if req.counted:
                self.counted_rejected += 1
            req.last_station = self
            self.sim.finish(req, "dropped" if req.acked else "error", now)
            return
        if not reentry:
            req.attempts = 0
        req.arrived_at = now
        if busy < self.servers:
            self.busy_area += busy * (now - self.changed_at)
            self.changed_at = now
            self.busy = busy + 1
            self._take(req, now)
        else:
            q = self.queue
            q.append(req)
            if len(q) > self.max_queue:
                self.max_queue = len(q)

    def _take(self, req: Request, now: float) -> None:
        req.holder = self
        req.attempts += 1
        req.service_started_at = now
        if self.instant and not self.dispatching:
            # Zero service time: hand on at once. Re-entrant takes (release -> take -> downstream reject ->
            # release ...) go through a zero-delay event instead, so the recursion is at most one level deep.
            # (`_done`, inlined: every message through an asynchronous boundary takes this path.)
            if req.counted:
                self.waits.append(now - req.arrived_at)  # sojourns is waits
            else:
                self.warm_done += 1
            self.dispatching = True
            try:
                req.route[self.idx].arrive(req, now)
            finally:
                self.dispatching = False
            return
        draws = self.draws
        s = draws.pop() if draws else self.refill()
        heappush(self.calendar, (now + s, next(self.ids), self.on_done, req))

    def _done(self, req: Request, now: float) -> None:
        if not req.counted:
            self.warm_done += 1
        elif self.instant:  # a deferred hand-off: now == req.service_started_at, and sojourns is waits
            self.waits.append(now - req.arrived_at)
        else:
            self.waits.append(req.service_started_at - req.arrived_at)
            self.sojourns.append(now - req.arrived_at)
        req.route[self.idx].arrive(req, now)

    def release(self, now: float) -> None:
        """A consumer's hold ends: it takes the next waiting message, or its slot frees."""
        q = self.queue
        if q:
            self._take(q.popleft(), now)
        else:
            self.busy_area += self.busy * (now - self.changed_at)
            self.changed_at = now
            self.busy -= 1

    def _reenter(self, req: Request, now: float) -> None:
        self.reentries += 1
        self.arrive(req, now, True)


class EnqueueBufferNode(BufferNode):
    """A buffer whose write takes time (and may fail): the caller waits for it, then the message is admitted (and
    acknowledged) as in `BufferNode`. A retry's re-entry is the queue's own move and pays no write."""

    __slots__ = ("put_draws", "put_refill", "put_error", "on_admit")

    def __init__(self, sim: Simulation, idx: int, spec: Station, rng: np.random.Generator,
                 put_rng: np.random.Generator) -> None:
        super().__init__(sim, idx, spec, rng)
        assert spec.enqueue is not None
        sampler = ServiceSampler(spec.enqueue, put_rng)
        self.put_draws = sampler.buf
        self.put_refill = sampler.refill
        self.put_error = spec.enqueue_error
        self.on_admit = self._admit

    def arrive(self, req: Request, now: float, reentry: bool = False) -> None:
        if reentry:
            BufferNode.arrive(self, req, now, True)
            return
        draws = self.put_draws
        heappush(self.calendar, (now + (draws.pop() if draws else self.put_refill()), next(self.ids), self.on_admit,
                                 req))

    def _admit(self, req: Request, now: float) -> None:
        if self.put_error and self.rng.random() < self.put_error:
            self.arrivals_counted += 1
            self.errors += 1
            req.last_station = self
            self.sim.visit_failed(req, now)
            return
        BufferNode.arrive(self, req, now)


class BreakerBufferNode(BufferNode):
    """A buffer whose consumers call through a circuit breaker (`model.Breaker`): a consumer's hand-on asks the
    breaker first, and fails the message fast when it is open; each hold's end tells it the call's outcome."""

    __slots__ = ()
    breaker: CircuitBreaker

    def _take(self, req: Request, now: float) -> None:
        req.holder = self
        req.attempts += 1
        req.service_started_at = now
        if self.instant and not self.dispatching:
            if req.counted:
                self.waits.append(now - req.arrived_at)
            else:
                self.warm_done += 1
            self.dispatching = True
            try:
                self._call(req, now)
            finally:
                self.dispatching = False
            return
        draws = self.draws
        s = draws.pop() if draws else self.refill()
        heappush(self.calendar, (now + s, next(self.ids), self.on_done, req))

    def _done(self, req: Request, now: float) -> None:
        if not req.counted:
            self.warm_done += 1
        elif self.instant:
            self.waits.append(now - req.arrived_at)
        else:
            self.waits.append(req.service_started_at - req.arrived_at)
            self.sojourns.append(now - req.arrived_at)
        self._call(req, now)

    def _call(self, req: Request, now: float) -> None:
        if self.breaker.allow(now):
            req.route[self.idx].arrive(req, now)
        else:  # fails fast: a failed visit of this buffer, never reaching downstream
            req.last_station = self
            self.sim.visit_failed(req, now)

    def release(self, now: float) -> None:
        self.breaker.succeeded(now)  # (a no-op right after `failed`: then this release is the failure's)
        BufferNode.release(self, now)


class BreakerEnqueueBufferNode(EnqueueBufferNode, BreakerBufferNode):
    """A buffer whose write takes time, with a circuit breaker on its consumers."""

    __slots__ = ()


def buffer_class(st: Station) -> type[BufferNode]:
    """The buffer class for a buffer's spec (its write and its breaker); `EnqueueBufferNode`s take a write stream."""
    if st.enqueue is not None:
        return BreakerEnqueueBufferNode if st.breaker is not None else EnqueueBufferNode
    return BreakerBufferNode if st.breaker is not None else BufferNode
