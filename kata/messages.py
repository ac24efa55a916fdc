"""Typed payloads of every WebSocket message, server → browser and browser → server.

Group messages (worker → consumer over the channel layer) carry one of these under "message".
The close codes are part of the protocol too: the page reads them to know whether to reconnect.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# A socket is accepted first and then closed with one of these, so that the browser sees the code (a socket refused
# during the handshake reaches the page as 1006 and nothing else). 44xx mirror HTTP statuses.
CLOSE_UNAUTHENTICATED = 4401  # the session ended: log in again, do not reconnect
CLOSE_NOT_FOUND = 4404  # not this learner's run (or no such run): do not reconnect
CLOSE_NOT_READING = 4408  # the client stopped acknowledging frames: it may reconnect, and is replayed from there
CLOSE_REPLACED = 4409  # the learner opened a newer socket (a reload, another tab): this page stops following
CLOSE_TOO_MANY = 4429  # sockets opened too fast: reconnect after a while


class HelloMessage(TypedDict):
    type: Literal["hello"]
    username: str


class PongMessage(TypedDict):
    type: Literal["pong"]
    seq: int


class ErrorMessage(TypedDict):
    type: Literal["error"]
    message: str


class SourcePoint(TypedDict):
    """One traffic source's step: its own latencies (ms) and its error share so far (%, met an error)."""

    acc: list[float | None]
    set: list[float | None]
    err: float
    n: int  # arrivals so far


class Point(TypedDict):
    """One simulated step, compacted for charts: latencies in ms, rates in %, utilization 0..1."""

    t: float
    acc: list[float | None]  # accept p50, p95, p99 of the step
    set: list[float | None]  # settlement p50, p95, p99 of the step
    err: float | None  # error rate so far, %
    cost: float  # $/hour now
    u: dict[str, float | None]  # utilization per station in the step
    q: dict[str, int]  # waiting per station now
    src: dict[str, SourcePoint]  # per traffic source (spec name = its node id), never mixed


class FrameMessage(TypedDict):
    type: Literal["frame"]
    seq: int  # increasing over the whole run, across executions
    execution: int  # which execution sent it: a higher one means the run started again, so the page starts afresh
    progress: float  # 0..1 of simulated time
    t: float  # simulated seconds
    points: list[Point]


class StatusMessage(TypedDict):
    type: Literal["status"]
    status: str  # a Run.Status value
    message: str


class GradeMessage(TypedDict):
    type: Literal["grade"]
    passed: int
    total: int
    grade: dict[str, Any]


class CancelRequest(TypedDict):
    type: Literal["cancel"]


class AckRequest(TypedDict):
    """The page has the frames up to `seq`. A socket sends a bounded window of frames ahead of the last ack."""

    type: Literal["ack"]
    seq: int
