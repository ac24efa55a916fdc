"""Production mode for real: PostgreSQL and Redis (started by scripts/prod.sh), Daphne and two Celery workers
(started here, so that tests can kill them), a test database of pytest-django's making.

Run with `make test-prod`; the settings module refuses to load without production mode's environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from django.db import connection

from kata.loadtest import csrf_cookie, log_in
from kata.services import kata_load_fixture, learner_sign_up

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LOGS = ROOT / "artifacts" / "prod-logs"
# Longer than the whole suite: a killed worker's run can come back only through the workers' own sweep for silent
# runs. The lease is short enough for tests to see a takeover in seconds (production: 15 s, see config/settings.py).
VISIBILITY_TIMEOUT = 900
LEASE_SECONDS = 4
PASSWORD = "correct-horse-battery"

pytestmark = pytest.mark.prod


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.prod)


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    """The app's processes on top of the real services: one Daphne, named Celery workers."""

    env: dict[str, str]
    port: int
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    daphne: subprocess.Popen[bytes] | None = None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = open(LOGS / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it for its life
        # A session of its own: killing the group kills a worker with its pool processes, as a crash would.
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start_daphne(self) -> None:
        # Two Daphne processes on one port, as `make run-prod` starts them.
        self.daphne = self._spawn("daphne", [sys.executable, "scripts/daphnes.py", "--processes", "2", "--host",
                                             "127.0.0.1", "--port", str(self.port), "config.asgi:application"])
        wait_until(self._healthy, timeout=60, what="Daphne's /healthz")

    def _healthy(self) -> bool:
        assert self.daphne is not None and self.daphne.poll() is None, "Daphne stopped"
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def start_worker(self) -> str:
        name = f"test{next(self._names)}"
        log = LOGS / f"{name}.log"
        log.unlink(missing_ok=True)
        self.workers[name] = self._spawn(name, [
            str(VENV_BIN / "celery"), "-A", "config", "worker", "-n", f"{name}@%h", "--pool", "prefork",
            "--concurrency", "2", "--prefetch-multiplier", "1", "-O", "fair",
            "--without-gossip", "--without-mingle", "-l", "INFO"])
        wait_until(lambda: log.exists() and " ready." in log.read_text(errors="replace"), timeout=60,
                   what=f"worker {name}")
        return name

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker and its pool processes at once: no goodbye, no acknowledgement."""
        process = self.workers.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        processes = [*self.workers.values(), *([self.daphne] if self.daphne else [])]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def prod_db(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """The test database, open to every test of the session, with the katas loaded."""
    with django_db_blocker.unblock():
        kata_load_fixture(path=ROOT / "fixtures" / "clearpay" / "kata.json")
        yield


@pytest.fixture(scope="session")
def stack(prod_db: None) -> Iterator[Stack]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test_prod",
           "POSTGRES_DB": connection.settings_dict["NAME"], "KATA_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
           "KATA_RUN_LEASE_SECONDS": str(LEASE_SECONDS), "PYTHONUNBUFFERED": "1"}
    running = Stack(env=env, port=_free_port())
    try:
        running.start_daphne()
        running.start_worker()
        running.start_worker()
        yield running
    finally:
        running.stop()


@pytest.fixture
def two_workers(stack: Stack) -> Stack:
    """Two workers up, whatever an earlier test killed."""
    while len(stack.workers) < 2:
        stack.start_worker()
    return stack


_learners = itertools.count(1)


@pytest.fixture
def learner(prod_db: None) -> Any:
    return learner_sign_up(username=f"prod-learner-{os.getpid()}-{next(_learners)}", email="", password=PASSWORD)


@pytest.fixture
def reference_design() -> dict[str, Any]:
    return json.loads((ROOT / "fixtures" / "clearpay" / "designs" / "reference.json").read_text())


class Learner:
    """A learner's browser, reduced to what the page does: log in, press Run, read the run's socket."""

    def __init__(self, base: str, username: str) -> None:
        self.base, self.username = base, username
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.messages: list[dict[str, Any]] = []
        self.run_id = 0
        self.reconnects = 0

    async def __aenter__(self) -> Learner:
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             timeout=aiohttp.ClientTimeout(total=120))
        await log_in(self.session, self.base, self.username, PASSWORD)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        assert self.session is not None
        await self.session.close()

    async def run(self, design: dict[str, Any]) -> dict[str, Any]:
        assert self.session is not None
        async with self.session.post(f"{self.base}/katas/clearpay/runs/", json=design,
                                     headers={"X-CSRFToken": csrf_cookie(self.session)}) as answer:
            body = await answer.json(content_type=None)
            assert answer.status == 201, body
            return body

    async def run_to_first_frame(self, design: dict[str, Any]) -> int:
        """Press Run, open the run's socket and read until its first frame: the run's id."""
        run_id = (await self.run(design))["run"]
        await self.connect(run_id)
        await self.read_until(first_frame, timeout=30)
        return run_id

    async def connect(self, run_id: int) -> None:
        assert self.session is not None
        self.run_id = run_id
        self.ws = await self.session.ws_connect(f"ws://127.0.0.1:{self.base.rsplit(':', 1)[1]}/ws/runs/{run_id}/",
                                                origin=self.base)

    async def read_until(self, done: Callable[[dict[str, Any]], bool], *, timeout: float) -> dict[str, Any]:
        """Messages until one satisfies `done`, reconnecting like the page when the socket drops."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.ws is not None
            try:
                message = await self.ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if message.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                self.messages.append(data)
                if data.get("type") == "frame":  # as the page does: the server sends a bounded window ahead of acks
                    with contextlib.suppress(ConnectionError, RuntimeError):  # dropped: the next receive says so
                        await self.ws.send_json({"type": "ack", "seq": data["seq"]})
                if done(data):
                    return data
                continue
            # Dropped: come back, as run.js does; the server replays what was missed.
            self.reconnects += 1
            await asyncio.sleep(0.5)
            try:
                await self.connect(self.run_id)
            except aiohttp.ClientError:
                await asyncio.sleep(0.5)
        raise AssertionError(f"no such message within {timeout} s; got {[m.get('type') for m in self.messages][-10:]}")

    def frames(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "frame"]


def finished(message: dict[str, Any]) -> bool:
    return message.get("type") == "status" and message.get("status") in ("succeeded", "failed", "cancelled")


def first_frame(message: dict[str, Any]) -> bool:
    return message.get("type") == "frame"


def prod_script(*args: str) -> subprocess.CompletedProcess[str]:
    script = os.environ.get("KATA_PROD_SCRIPT", str(ROOT / "scripts" / "prod.sh"))
    return subprocess.run([script, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
