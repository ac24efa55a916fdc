"""`python manage.py loadtest [--learners 20] [--url http://127.0.0.1:8000]`: a classroom pressing Run at once.

Against a server that is already running (`make run` or `make run-prod`), with this command's settings pointing at
the same database: it makes (or refreshes) the learner accounts `loadtest-01…`, then each learner logs in over HTTP,
submits the design, follows its run over the WebSocket to the end. Prints time to first frame (p50/p95), frames per
second, errors, completed and lost runs, with the targets beside them. Loopback only; bounded in learners and time.
Exits 1 when a learner hit an error or a run was lost.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kata import services
from kata.loadtest import classroom, loopback_only, summarize
from kata.models import Kata, Run

MAX_LEARNERS = 100
MAX_TIMEOUT_S = 900
TARGETS = {"errors": 0, "lost": 0, "first_frame_p95_s": 1.0}


class Command(BaseCommand):
    help = "Simulate N learners pressing Run at once over real HTTP and WebSockets; print latency figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running server (loopback only)")
        parser.add_argument("--learners", type=int, default=20, help=f"concurrent learners, 1–{MAX_LEARNERS}")
        parser.add_argument("--kata", default="clearpay")
        parser.add_argument("--design", default=str(settings.BASE_DIR / "fixtures/clearpay/designs/reference.json"))
        parser.add_argument("--timeout", type=float, default=300,
                            help=f"seconds for the whole test, at most {MAX_TIMEOUT_S}")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            base = loopback_only(options["url"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        learners, timeout = options["learners"], options["timeout"]
        if not 1 <= learners <= MAX_LEARNERS:
            raise CommandError(f"--learners must be between 1 and {MAX_LEARNERS}")
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise CommandError(f"--timeout must be above 0 and at most {MAX_TIMEOUT_S} seconds")
        if not Kata.objects.filter(slug=options["kata"], published=True).exists():
            raise CommandError(f"no published kata {options['kata']!r} in this database: is it the server's?")
        try:
            design = json.loads(Path(options["design"]).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read the design {options['design']}: {exc}") from None

        accounts = self._accounts(learners)
        began = time.monotonic()
        results = asyncio.run(classroom(base, accounts, kata=options["kata"], design=design, timeout=timeout))
        wall = time.monotonic() - began
        lost = self._lost([r.run_id for r in results if r.run_id is not None])
        summary = summarize(results, wall_s=wall, lost=lost)
        summary.update(url=base, kata=options["kata"], design=Path(options["design"]).name,
                       executor=settings.KATA_RUN_EXECUTOR, targets=TARGETS)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self._table(summary)
        if summary["errors"] or lost:
            raise CommandError(f"{summary['errors']} learner(s) hit an error, {lost} run(s) lost")

    def _accounts(self, count: int) -> list[tuple[str, str]]:
        """Learner accounts loadtest-01… with a fresh password each time; none of them may have a run going."""
        password = secrets.token_urlsafe(16)
        accounts = []
        User = get_user_model()
        for i in range(1, count + 1):
            username = f"loadtest-{i:02d}"
            user = User.objects.filter(username=username).first()
            if user is None:
                user = services.learner_sign_up(username=username, email="", password=password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            for run in Run.objects.filter(attempt__learner=user, status__in=Run.ACTIVE_STATUSES):
                services.run_cancel(run=run, reason="Cancelled by a new load test.")
            accounts.append((username, password))
        return accounts

    def _lost(self, run_ids: list[int], wait_s: float = 30.0) -> int:
        """Runs that were accepted but have not been saved as succeeded (after a short wait for stragglers)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if Run.objects.filter(pk__in=run_ids).exclude(status__in=Run.FINISHED_STATUSES).count() == 0:
                break
            time.sleep(0.5)
        return len(run_ids) - Run.objects.filter(pk__in=run_ids, status=Run.Status.SUCCEEDED).exclude(grade={}).count()

    def _table(self, s: dict[str, Any]) -> None:
        def secs(value: float | None) -> str:
            return "—" if value is None else f"{value:.3f} s"

        rows = [
            ("completed runs", f"{s['completed']} / {s['learners']}", ""),
            ("errors", str(s["errors"]), "target 0"),
            ("lost runs", str(s["lost"]), "target 0"),
            ("Run answered p50 / p95", f"{secs(s['accepted_p50_s'])} / {secs(s['accepted_p95_s'])}", ""),
            ("socket open p95", secs(s["socket_open_p95_s"]), ""),
            ("time to first frame p50", secs(s["first_frame_p50_s"]), ""),
            ("time to first frame p95", secs(s["first_frame_p95_s"]), "target ≤ 1 s"),
            ("time to first frame max", secs(s["first_frame_max_s"]), ""),
            ("frames per second (median)",
             "—" if s["frames_per_s_median"] is None else f"{s['frames_per_s_median']:.2f}", ""),
            ("frames received", str(s["frames_total"]), ""),
            ("reconnects", str(s["reconnects"]), ""),
            ("click → grade p50 / p95", f"{secs(s['grade_p50_s'])} / {secs(s['grade_p95_s'])}", ""),
        ]
        self.stdout.write(f"Load test: {s['learners']} learners on {s['url']} ({s['executor']} runs), "
                          f"kata {s['kata']}, design {s['design']}; {s['wall_s']:.1f} s wall")
        for name, value, target in rows:
            self.stdout.write(f"  {name:<28} {value:<18} {target}")
        for message in s["error_messages"]:
            self.stdout.write(f"  error: {message}")
