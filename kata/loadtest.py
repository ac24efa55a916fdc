"""Learners in a classroom, simulated over the real HTTP and WebSocket path (the `loadtest` command drives it).

Each learner logs in through the login form, opens the kata's workspace, submits a design to the Run endpoint, opens
the run's socket and reads frames until the run's final status, reconnecting the way the page does when the socket
drops. Loopback only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from kata.models import Run

MAX_RECONNECTS = 20
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class LoadTestError(Exception):
    """One learner's session went wrong (the message says where)."""


def loopback_only(url: str) -> str:
    """The base URL without a trailing slash, refused unless its host is this machine."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{url!r} is not an http(s) URL")
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise ValueError(f"the load test only targets this machine (127.0.0.1, ::1 or localhost), not {host!r}")
    return url.rstrip("/")


@dataclass
class LearnerResult:
    username: str
    run_id: int | None = None
    status: str = ""  # the run's final status as the socket told it
    accepted_s: float | None = None  # Run request sent → its answer (the attempt and run are saved)
    socket_open_s: float | None = None  # Run request sent → the run's socket open
    first_frame_s: float | None = None  # Run request sent → first frame received
    final_s: float | None = None  # Run request sent → final status received
    frames: int = 0
    frames_per_s: float | None = None
    reconnects: int = 0
    error: str = ""
    statuses: list[str] = field(default_factory=list)


async def log_in(session: aiohttp.ClientSession, base: str, username: str, password: str) -> None:
    async with session.get(f"{base}/accounts/login/") as page:
        html = await page.text()
    token = _CSRF_INPUT.search(html)
    if page.status != 200 or token is None:
        raise LoadTestError(f"login page answered {page.status} without a CSRF token")
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    async with session.post(f"{base}/accounts/login/", data=form, allow_redirects=False,
                            headers={"Referer": f"{base}/accounts/login/"}) as answer:
        if answer.status != 302:
            raise LoadTestError(f"login refused for {username} (HTTP {answer.status})")


def csrf_cookie(session: aiohttp.ClientSession) -> str:
    for cookie in session.cookie_jar:
        if cookie.key == "csrftoken":
            return cookie.value
    raise LoadTestError("no CSRF cookie after logging in")


async def follow(session: aiohttp.ClientSession, socket_url: str, origin: str, started: float,
                  result: LearnerResult, deadline: float) -> None:
    """Read the run's socket to its final status, reconnecting (with back-off) when it drops."""
    seen: set[int] = set()
    first = last = None
    while True:
        try:
            async with session.ws_connect(socket_url, origin=origin, heartbeat=None) as ws:
                if result.socket_open_s is None:
                    result.socket_open_s = time.monotonic() - started
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise LoadTestError("timed out before the run finished")
                    message = await ws.receive(timeout=remaining)
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break  # closed or broken: reconnect
                    data = json.loads(message.data)
                    now = time.monotonic()
                    if data.get("type") == "frame":
                        # As the page does: the server sends a bounded window of frames ahead of the last ack.
                        await ws.send_json({"type": "ack", "seq": data["seq"]})
                    if data.get("type") == "frame" and data["seq"] not in seen:
                        seen.add(data["seq"])
                        first = first if first is not None else now
                        last = now
                    elif data.get("type") == "status":
                        result.statuses.append(data["status"])
                        if data["status"] in Run.FINISHED_STATUSES:
                            result.status, result.final_s = data["status"], now - started
                            break
            if result.status:
                break
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            if time.monotonic() >= deadline:
                raise LoadTestError(f"socket: {exc!r}") from exc
        if result.reconnects >= MAX_RECONNECTS:
            raise LoadTestError(f"gave up after {MAX_RECONNECTS} reconnects")
        result.reconnects += 1
        await asyncio.sleep(min(2.0, 0.1 * 2 ** result.reconnects))
    result.frames = len(seen)
    if first is not None:
        result.first_frame_s = first - started
        if last is not None and last > first and len(seen) > 1:
            result.frames_per_s = (len(seen) - 1) / (last - first)


class Gate:
    """Holds logged-in learners back until the whole class is ready, so they press Run in the same instant."""

    def __init__(self) -> None:
        self.arrived = 0
        self.open = asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        await self.open.wait()


async def learner_session(base: str, username: str, password: str, *, kata: str, design: dict[str, Any],
                          timeout: float, start: Gate | None = None) -> LearnerResult:
    """One learner: log in, open the workspace, (wait for the class,) press Run, follow the run to its end."""
    result = LearnerResult(username=username)
    deadline = time.monotonic() + timeout
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, an IP address
    http_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=http_timeout) as session:
            await log_in(session, base, username, password)
            # As a learner does, open the workspace before pressing Run.
            async with session.get(f"{base}/katas/{kata}/workspace/") as page:
                await page.read()
                if page.status != 200:
                    raise LoadTestError(f"the workspace answered HTTP {page.status}")
            token = csrf_cookie(session)
            if start is not None:  # logging in is not what is measured
                await start.wait()
            started = time.monotonic()
            headers = {"X-CSRFToken": token, "Referer": f"{base}/katas/{kata}/workspace/"}
            async with session.post(f"{base}/katas/{kata}/runs/", json=design, headers=headers) as answer:
                body = await answer.json(content_type=None)
                if answer.status != 201:
                    raise LoadTestError(f"Run refused (HTTP {answer.status}): {body.get('error', body)}")
            result.run_id, result.accepted_s = body["run"], time.monotonic() - started
            scheme = "wss" if base.startswith("https") else "ws"
            socket_url = f"{scheme}://{urlsplit(base).netloc}{body['socket']}"
            await follow(session, socket_url, base, started, result, deadline)
    except (TimeoutError, LoadTestError, aiohttp.ClientError, ValueError, KeyError) as exc:
        result.error = str(exc) or type(exc).__name__
    return result


async def classroom(base: str, accounts: list[tuple[str, str]], *, kata: str, design: dict[str, Any],
                    timeout: float) -> list[LearnerResult]:
    """Every learner logs in, then all press Run in the same instant."""
    gate = Gate()
    sessions = [asyncio.create_task(learner_session(base, user, password, kata=kata, design=design, timeout=timeout,
                                                    start=gate)) for user, password in accounts]
    deadline = time.monotonic() + min(timeout, 60.0)
    while gate.arrived + sum(task.done() for task in sessions) < len(sessions) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    gate.open.set()
    return list(await asyncio.gather(*sessions))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def summarize(results: list[LearnerResult], *, wall_s: float, lost: int) -> dict[str, Any]:
    firsts = [r.first_frame_s for r in results if r.first_frame_s is not None]
    rates = [r.frames_per_s for r in results if r.frames_per_s is not None]
    finals = [r.final_s for r in results if r.final_s is not None and r.status == "succeeded"]
    accepted = [r.accepted_s for r in results if r.accepted_s is not None]
    opened = [r.socket_open_s for r in results if r.socket_open_s is not None]
    return {
        "learners": len(results),
        "completed": sum(1 for r in results if r.status == "succeeded"),
        "errors": sum(1 for r in results if r.error),
        "lost": lost,
        "reconnects": sum(r.reconnects for r in results),
        "accepted_p50_s": _round(percentile(accepted, 50)),
        "accepted_p95_s": _round(percentile(accepted, 95)),
        "socket_open_p95_s": _round(percentile(opened, 95)),
        "first_frame_p50_s": _round(percentile(firsts, 50)),
        "first_frame_p95_s": _round(percentile(firsts, 95)),
        "first_frame_max_s": _round(max(firsts, default=None)),
        "frames_per_s_median": _round(statistics.median(rates) if rates else None),
        "frames_total": sum(r.frames for r in results),
        "grade_p50_s": _round(percentile(finals, 50)),
        "grade_p95_s": _round(percentile(finals, 95)),
        "wall_s": round(wall_s, 2),
        "error_messages": sorted({r.error for r in results if r.error}),
        "runs": [asdict(r) for r in results],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
