#!/usr/bin/env python3
"""Measure one learner's idle sockets against another learner's page, on a fresh server of any checkout.

    .venv/bin/python scripts/idle_sockets.py [--checkout DIR] [--sockets 100] [--loops 8] [--frames 400]

Makes a throwaway SQLite database (migrated, katas loaded), an attacker learner with a graded run of `--frames`
saved frames of ~6.5 KB each (~2.6 MB, a costly run), and another learner; serves DIR's code with Daphne on a free
loopback port; runs `kata.idlesockets.measure` (from this checkout) and prints its figures as JSON. DIR defaults to
this checkout; point it at an export of another commit to compare (`git archive <commit> | tar -x -C /tmp/before`).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

SETUP = (
    r"""
import json, os
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from kata.models import Attempt, Kata, Run, RunFrame

frames = int(os.environ["IDLE_FRAMES"])
users = {name: get_user_model().objects.create_user(name, password="idle-sockets-pass-1")"""
    r""" for name in ("attacker", "other")}
kata = Kata.objects.get(slug="clearpay")
attempt = Attempt.objects.create(learner=users["attacker"], kata=kata, design=kata.reference_design)
run = Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="succeeded", passed=5, total=5,"""
    r""" grade={"scenarios": []})
point = {"t": 0.0, "acc": [1.0, 2.0, 3.0], "set": [1.0, 2.0, 3.0], "err": 0.1, "cost": 3.2,
         "u": {f"station-{i}": 0.5 for i in range(10)}, "q": {f"station-{i}": 1 for i in range(10)}}
RunFrame.objects.bulk_create(RunFrame(run=run, seq=seq, payload={"type": "frame", "seq": seq, "execution": 1,
    "progress": seq / frames, "t": float(seq), "points": [dict(point, t=float(seq * 10 + k)) for k in range(14)]})
    for seq in range(1, frames + 1))
cookies = {}
for name, user in users.items():
    session = SessionStore()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    cookies[name] = f"sessionid={session.session_key}"
size = sum(len(json.dumps(p)) for p in RunFrame.objects.filter(run=run).values_list("payload", flat=True))
print(json.dumps({"run": run.pk, "cookies": cookies, "frame_bytes": size}))
"""
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", default=str(HERE))
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--loops", type=int, default=8)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--hold", type=float, default=5.0)
    args = parser.parse_args()
    checkout = Path(args.checkout).resolve()
    with tempfile.TemporaryDirectory(prefix="kata-idle-") as tmp:
        port = _free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KATA_", "POSTGRES_", "REDIS_"))},
               "DJANGO_SETTINGS_MODULE": "config.settings", "SQLITE_PATH": f"{tmp}/db.sqlite3", "DEBUG": "0",
               "ALLOWED_HOSTS": "127.0.0.1", "PYTHONPATH": str(checkout)}
        manage = [sys.executable, "manage.py"]
        for command in (["migrate", "--noinput", "-v", "0"], ["load_katas"], ["collectstatic", "--noinput", "-v", "0"]):
            subprocess.run([*manage, *command], cwd=checkout, env=env, check=True, capture_output=True)
        made = subprocess.run([*manage, "shell", "-c", SETUP], cwd=checkout,
                              env={**env, "IDLE_FRAMES": str(args.frames)}, check=True, capture_output=True, text=True)
        data = json.loads(made.stdout.strip().splitlines()[-1])
        server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                   "config.asgi:application"], cwd=checkout, env=env,
                                  stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/daphne.log", "w"))
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.2)
            time.sleep(3)  # the embedded pool's warm-up, so it is not measured
            from kata.idlesockets import measure  # from this checkout: HERE is put on sys.path above

            figures = measure(base_url=base, server_pid=server.pid, run_socket=f"/ws/runs/{data['run']}/",
                              attacker_cookie=data["cookies"]["attacker"], page="/katas/clearpay/",
                              other_cookie=data["cookies"]["other"], sockets=args.sockets, loops=args.loops,
                              hold=args.hold)
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(json.dumps({"checkout": str(checkout), "saved_frame_bytes": data["frame_bytes"], **figures.to_dict()},
                         indent=2))


if __name__ == "__main__":
    main()
