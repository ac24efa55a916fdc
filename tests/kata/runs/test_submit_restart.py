"""The embedded server killed mid-run (SIGKILL) and started again: no run stays stuck, none is lost.

A real `daphne config.asgi:application` with the real settings on a database of its own, driven over HTTP and
WebSockets as a browser would. With one simulator and one run starting at a time, learner A's run is streaming when
the server is killed, and B's and C's are queued or running; the new server takes all three on before it answers
anyone, a run that was running starts again (its second execution), a queued one runs from the queue, every one is
graded, and A can run again at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from kata.loadtest import LearnerResult, csrf_cookie, follow, log_in

ROOT = Path(__file__).resolve().parents[3]
DAPHNE = Path(sys.executable).parent / "daphne"
PASSWORD = "restart-test-password-1"
DESIGN = json.loads((ROOT / "fixtures/clearpay/designs/reference.json").read_text())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedServer:
    """`make run`'s server (the embedded default) on a database file of its own."""

    def __init__(self, directory: Path) -> None:
        self.database = directory / "db.sqlite3"
        self.log = directory / "daphne.log"
        self.port = _free_port()
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "SQLITE_PATH": str(self.database),
                    "KATA_SIMULATORS": "1", "KATA_STARTING_RUNS": "1", "LOG_LEVEL": "WARNING"}
        self.env.pop("KATA_TEST_DB", None)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(DAPHNE), "-b", "127.0.0.1", "-p", str(self.port),
                                             "config.asgi:application"], cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            time.sleep(0.1)
        raise AssertionError("the server did not start listening")

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would: nothing of its own clean-up runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.database, timeout=20) as db:
            return db.execute(sql, params).fetchall()

    def run(self, run_id: int) -> dict[str, object]:
        status, executions, error = self.query("SELECT status, executions, error_message FROM kata_run WHERE id = ?",
                                               run_id)[0]
        frames = self.query("SELECT COUNT(*) FROM kata_runframe WHERE run_id = ?", run_id)[0][0]
        return {"status": status, "executions": executions, "frames": frames, "error": error}


@pytest.fixture
def server(tmp_path):
    server = EmbeddedServer(tmp_path)
    server.manage("migrate", "--noinput")
    server.manage("load_katas")
    for name in ("learner-a", "learner-b", "learner-c"):
        server.manage("shell", "-c", f"from kata.services import learner_sign_up; "
                                     f"learner_sign_up(username={name!r}, email='', password={PASSWORD!r})")
    server.start()
    yield server
    server.stop()


async def _session(server: EmbeddedServer, username: str) -> tuple[aiohttp.ClientSession, str]:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=60))
    await log_in(session, server.url, username, PASSWORD)
    return session, csrf_cookie(session)


async def _press_run(session: aiohttp.ClientSession, token: str, server: EmbeddedServer) -> tuple[int, dict]:
    async with session.post(f"{server.url}/katas/clearpay/runs/", json=DESIGN,
                            headers={"X-CSRFToken": token, "Referer": f"{server.url}/"}) as answer:
        return answer.status, await answer.json(content_type=None)


async def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _follow_to_end(session: aiohttp.ClientSession, server: EmbeddedServer, run_id: int) -> LearnerResult:
    result = LearnerResult(username="", run_id=run_id)
    await follow(session, f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/", server.url, time.monotonic(), result,
                  time.monotonic() + 120)
    return result


def test_a_killed_embedded_server_takes_its_runs_on_again_when_it_starts(server):
    async def scenario() -> dict[str, float]:
        sessions = [await _session(server, name) for name in ("learner-a", "learner-b", "learner-c")]
        (a, token_a) = sessions[0]
        try:
            answers = [await _press_run(session, token, server) for session, token in sessions]
            assert [status for status, _ in answers] == [201, 201, 201], answers
            run_ids = [body["run"] for _, body in answers]
            await _until(lambda: server.run(run_ids[0])["frames"] > 0, timeout=60)

            server.kill()
            killed = time.monotonic()
            # One run starts at a time (KATA_STARTING_RUNS=1) and the next once it has its first frame, which the
            # streamer gives within milliseconds: B and C may be queued or running by now; each is taken on again.
            before = [server.run(run_id) for run_id in run_ids]
            assert before[0]["status"] == "running", before
            assert all(b["status"] in {"queued", "running"} for b in before), before

            server.start()
            started = time.monotonic()
            async with a.get(f"{server.url}/healthz") as health:  # the first thing the new server serves
                assert health.status == 200
            refused_status, refused = await _press_run(a, token_a, server)
            assert refused_status == 400 and "already have a run in progress" in refused["error"], \
                "A's run is going again, not stuck and not lost"

            followed = await asyncio.gather(*[_follow_to_end(session, server, run_id)
                                              for (session, _), run_id in zip(sessions, run_ids, strict=True)])
            graded = time.monotonic()
            assert [f.status for f in followed] == ["succeeded"] * 3, [server.run(run_id) for run_id in run_ids]
            again_status, _ = await _press_run(a, token_a, server)
            assert again_status == 201, "A runs again at once"
            return {"restart_s": round(started - killed, 2), "all_graded_after_start_s": round(graded - started, 2),
                    "b_at_kill": before[1]["status"], "c_at_kill": before[2]["status"]}
        finally:
            for session, _ in sessions:
                await session.close()

    figures = asyncio.run(scenario())
    a, b, c = (server.run(run_id) for (run_id,) in server.query("SELECT id FROM kata_run ORDER BY id")[:3])
    assert a["status"] == b["status"] == c["status"] == "succeeded"
    assert a["executions"] == 2, "A's run started again after the kill"
    for run, at_kill in ((b, figures["b_at_kill"]), (c, figures["c_at_kill"])):
        # a run queued at the kill ran once, from the queue; one already running started again
        assert run["executions"] == (1 if at_kill == "queued" else 2), (run, at_kill)
    assert "took on 3 run(s) left by the previous server process" in server.log.read_text()
    print(f"\nrestart figures: {figures}")
