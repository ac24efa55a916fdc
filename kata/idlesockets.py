"""One learner's idle sockets against everyone else: what they cost the server, and another learner's wait.

An attacker with one account opens many sockets to a run with a long history and never reads them (each socket
replays the saved frames), or reconnects in a loop. This measures, on a running server, the server process's
memory before, with the sockets open and after they closed, and the median time another learner waits for a page
meanwhile. Plain sockets (a WebSocket handshake, then nothing read, a small receive buffer) stand in for a client
that does not read. Loopback only (`kata.loadtest.loopback_only`). `scripts/idle_sockets.py` sets a server up and
runs it; a test runs it against the live test server.
"""

from __future__ import annotations

import base64
import os
import socket
import statistics
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kata.loadtest import loopback_only

RECEIVE_BUFFER = 4096  # bytes: the kernel holds little for a client that never reads; the server must hold the rest


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB (Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_idle_socket(base: str, path: str, cookie: str) -> socket.socket:
    """A WebSocket on `path` that completes its handshake and then never reads."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.settimeout(10)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {base}\r\nCookie: {cookie}\r\n\r\n")
    sock.sendall(request.encode("latin1"))
    answer = b""
    while b"\r\n\r\n" not in answer:  # the handshake's answer only; the frames after it stay unread
        chunk = sock.recv(1)
        if not chunk:
            break
        answer += chunk
    return sock


@dataclass
class _Probe:
    """Another learner fetching a page, one request after another, on a thread of its own."""

    url: str
    cookie: str
    times: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def fetch(self) -> float:
        request = urllib.request.Request(self.url, headers={"Cookie": self.cookie})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
        return time.monotonic() - started

    def run(self) -> None:
        while not self.stop.is_set():
            self.times.append(self.fetch())
            time.sleep(0.05)

    def median_ms(self) -> float:
        return round(1000 * statistics.median(self.times), 1) if self.times else float("nan")


@dataclass
class IdleSocketFigures:
    sockets: int
    loops: int
    rss_before_mib: float
    rss_open_mib: float  # with every idle socket open, after `hold` seconds
    rss_after_mib: float  # after they closed, and the loops ran
    other_page_before_ms: float  # another learner's page, median
    other_page_open_ms: float  # while the sockets opened and stayed open
    other_page_loops_ms: float  # while the reconnect loops ran
    refused_or_closed: int  # idle sockets the server had closed by the end of the hold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed this socket (reads what is buffered, which the measurement no longer needs)."""
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _reconnect_loop(base: str, path: str, cookie: str, until: float) -> None:
    while time.monotonic() < until:
        try:
            open_idle_socket(base, path, cookie).close()
        except OSError:
            time.sleep(0.05)


def measure(*, base_url: str, server_pid: int, run_socket: str, attacker_cookie: str, page: str, other_cookie: str,
            sockets: int = 100, loops: int = 8, hold: float = 5.0, loop_seconds: float = 5.0) -> IdleSocketFigures:
    """Open `sockets` idle sockets to `run_socket`, hold them, close them; then `loops` reconnect loops."""
    base = loopback_only(base_url)
    probe = _Probe(f"{base}{page}", other_cookie)
    for _ in range(10):
        probe.times.append(probe.fetch())
    before_ms, before_rss = probe.median_ms(), rss_mib(server_pid)
    probe.times.clear()
    prober = threading.Thread(target=probe.run, daemon=True)
    prober.start()
    opened = []
    for _ in range(sockets):
        try:
            opened.append(open_idle_socket(base, run_socket, attacker_cookie))
        except OSError:
            pass
    time.sleep(hold)
    open_rss = rss_mib(server_pid)
    probe.stop.set()
    prober.join()
    open_ms = probe.median_ms()
    closed = sum(_closed_by_server(s) for s in opened)
    for s in opened:
        s.close()
    probe = _Probe(probe.url, other_cookie)
    prober = threading.Thread(target=probe.run, daemon=True)
    prober.start()
    until = time.monotonic() + loop_seconds
    loopers = [threading.Thread(target=_reconnect_loop, args=(base, run_socket, attacker_cookie, until), daemon=True)
               for _ in range(loops)]
    for looper in loopers:
        looper.start()
    for looper in loopers:
        looper.join()
    probe.stop.set()
    prober.join()
    time.sleep(2)
    return IdleSocketFigures(sockets=sockets, loops=loops, rss_before_mib=round(before_rss, 1),
                             rss_open_mib=round(open_rss, 1), rss_after_mib=round(rss_mib(server_pid), 1),
                             other_page_before_ms=before_ms, other_page_open_ms=open_ms,
                             other_page_loops_ms=probe.median_ms(), refused_or_closed=closed)
