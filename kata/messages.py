"""Typed payloads of every WebSocket message, server → browser and browser → server.

Group messages (worker → consumer over the channel layer) carry one of these under "message".
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class HelloMessage(TypedDict):
    type: Literal["hello"]
    username: str


class PongMessage(TypedDict):
    type: Literal["pong"]
    seq: int


class ErrorMessage(TypedDict):
    type: Literal["error"]
    message: str


class Point(TypedDict):
    """One simulated step, compacted for charts: latencies in ms, rates in %, utilization 0..1."""

    t: float
    acc: list[float | None]  # accept p50, p95, p99 of the step
    set: list[float | None]  # settlement p50, p95, p99 of the step
    err: float | None  # error rate so far, %
    cost: float  # $/hour now
    u: dict[str, float | None]  # utilization per station in the step
    q: dict[str, int]  # waiting per station now


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
