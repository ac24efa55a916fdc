"""`python manage.py grade DESIGN.json --kata clearpay [--seeds 3] [--seed 1] [--json]`

A stable interface for graders and tooling: exit 0 when the design was graded (pass or fail), 2 with one clear
line for an invalid design or input.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kata import selectors
from kata.design import DesignError
from kata.compiler import compile_document
from kata.palette import Palette
from kata.runs.seeds import design_grade, grading_seeds

MAX_DESIGN_BYTES = 256 * 1024


class Command(BaseCommand):
    help = "Grade a design document against a kata's scenarios."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("design", help="Path to the design JSON document ('-' reads standard input).")
        parser.add_argument("--kata", required=True, help="The kata's slug, e.g. clearpay.")
        parser.add_argument("--seeds", type=int, default=None, help="How many seeds (default: the kata's, 3).")
        parser.add_argument("--seed", type=int, default=1, help="The first seed (default 1).")
        parser.add_argument("--json", action="store_true", help="Print the grade as one JSON object.")

    def _fail(self, message: str) -> None:
        self.stderr.write(f"grade: {message}")
        sys.exit(2)

    def _read(self, source: str) -> Any:
        try:
            if source == "-":
                text = sys.stdin.read(MAX_DESIGN_BYTES + 1)
            else:
                path = Path(source)
                if not path.is_file():
                    self._fail(f"no such file: {source}")
                if path.stat().st_size > MAX_DESIGN_BYTES:
                    self._fail(
                        f"{source} is larger than {MAX_DESIGN_BYTES // 1024} KiB; a design is a small JSON document"
                    )
                text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._fail(f"cannot read {source}: {exc}")
        if len(text) > MAX_DESIGN_BYTES:
            self._fail(f"the design is larger than {MAX_DESIGN_BYTES // 1024} KiB")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self._fail(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        except RecursionError:
            self._fail(f"{source} is nested too deeply to be a design")

    def handle(self, *args: Any, **options: Any) -> None:
        kata, problem = selectors.kata_for_command(slug=options["kata"], seeds=options["seeds"])
        if problem or kata is None:
            self._fail(problem)
        if options["seed"] < 0:
            self._fail("--seed must be 0 or more")
        document = self._read(options["design"])
        palette = Palette.from_kata(kata)
        seeds = grading_seeds(palette, count=options["seeds"], first=options["seed"])
        started = time.perf_counter()
        try:
            compile_document(document, palette)  # a bad design fails here, before any progress line
        except DesignError as exc:
            self._fail(f"invalid design: {exc}")
        except RecursionError:
            self._fail("the design is nested too deeply to be a design")
        self.stderr.write(f"Grading on seeds {', '.join(map(str, seeds))}…")

        def done(seed: int, finished: int, total: int) -> None:
            self.stderr.write(f"  seed {seed} simulated ({finished} of {total}, {time.perf_counter() - started:.1f} s)")

        try:
            graded = design_grade(palette=palette, document=document, seeds=seeds, done=done)
        except DesignError as exc:
            self._fail(f"invalid design: {exc}")
        except RecursionError:
            self._fail("the design is nested too deeply to be a design")
        elapsed = time.perf_counter() - started
        result = graded.grade.to_dict()
        if options["json"]:
            scenarios = [
                {key: s[key] for key in ("id", "title", "passed", "value", "unit", "threshold", "worst_seed",
                                         "values_by_seed", "explanation", "next_step")}
                for s in result["scenarios"]
            ]
            payload = {"kata": result["kata"], "passed": result["passed"], "total": result["total"],
                       "seeds": result["seeds"], "scenarios": scenarios}
            self.stdout.write(json.dumps(payload, ensure_ascii=False))
            return
        self.stdout.write(f"{kata.title}: {result['passed']}/{result['total']} scenarios passed "
                          f"(seeds {', '.join(map(str, seeds))}; {elapsed:.1f} s)")
        for s in result["scenarios"]:
            mark = "PASS" if s["passed"] else "FAIL"
            self.stdout.write(f"  [{mark}] {s['id']}. {s['title']}: {s['value']:g} {s['unit']} "
                              f"(threshold {s['threshold']:g})")
            self.stdout.write(f"         {s['explanation']}")
            if not s["passed"]:
                self.stdout.write(f"         Next: {s['next_step']}")
