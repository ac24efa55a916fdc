"""Typed payloads of every WebSocket message, server → browser and browser → server."""

from __future__ import annotations

from typing import Literal, TypedDict


class HelloMessage(TypedDict):
    type: Literal["hello"]
    username: str


class PongMessage(TypedDict):
    type: Literal["pong"]
    seq: int


class ErrorMessage(TypedDict):
    type: Literal["error"]
    message: str
