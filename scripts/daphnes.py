"""Several Daphne processes on one port: each listens on a socket of its own (SO_REUSEPORT), and the kernel spreads
new connections evenly over the sockets. (One shared socket would not: one process's accept loop takes a whole burst.)

    python scripts/daphnes.py --processes 2 --host 127.0.0.1 --port 8000 config.asgi:application

One Python process serves on one core; this is how the web tier of production mode uses more (on one machine; on
several, put a load balancer in front). A Daphne that dies is started again; SIGTERM or SIGINT stops them all.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

DAPHNE = str(Path(sys.executable).parent / "daphne")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("application")
    args = parser.parse_args()
    if not 1 <= args.processes <= 32:
        parser.error("--processes must be between 1 and 32")

    def listen() -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((args.host, args.port))
        listener.listen(1024)
        listener.set_inheritable(True)
        return listener

    listeners = [listen() for _ in range(args.processes)]

    def start(i: int) -> subprocess.Popen[bytes]:
        fd = listeners[i].fileno()
        return subprocess.Popen([DAPHNE, "--fd", str(fd), args.application], pass_fds=(fd,))

    children = [start(i) for i in range(args.processes)]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.5)
        for i, child in enumerate(children):
            if child.poll() is not None and not stopping:
                print(f"daphnes: Daphne pid {child.pid} exited ({child.returncode}); starting another", flush=True)
                time.sleep(1.0)
                children[i] = start(i)
    for child in children:
        child.terminate()
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
