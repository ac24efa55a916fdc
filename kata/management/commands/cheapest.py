"""`python manage.py cheapest --kata clearpay [--from DESIGN.json] [--seeds 3] [--save] [--out FILE]`

Searches the priced parameters of a passing design (instances, cores, with the slots they hold) for the cheapest
that still passes every scenario on the grading seeds, printing each graded candidate as it goes, then the design
found and its cost against the kata's budget. `--save` records that cost on the kata, and the grade then tells each
learner how their cost compares with it. Exit 0 when a search ran, 2 with one line for bad input.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kata import selectors, services
from kata.cheapest import SearchError, Step, cheapest_search
from kata.palette import Palette
from kata.runs.seeds import grading_seeds


class Command(BaseCommand):
    help = "Find the cheapest design near a passing one that still passes every scenario."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kata", required=True, help="The kata's slug, e.g. clearpay.")
        parser.add_argument("--from", dest="start", default=None,
                            help="A design JSON to start from (default: the kata's reference design).")
        parser.add_argument("--seeds", type=int, default=None, help="How many grading seeds (default: the kata's).")
        parser.add_argument("--max-evaluations", type=int, default=200, help="Stop after this many graded designs.")
        parser.add_argument("--save", action="store_true", help="Record the cost found as the kata's cheapest known.")
        parser.add_argument("--out", default=None, help="Write the design found to this file.")

    def _fail(self, message: str) -> None:
        self.stderr.write(f"cheapest: {message}")
        sys.exit(2)

    def handle(self, *args: Any, **options: Any) -> None:
        kata, problem = selectors.kata_for_command(slug=options["kata"], seeds=options["seeds"])
        if problem or kata is None:
            self._fail(problem)
        if not 1 <= options["max_evaluations"] <= 2000:
            self._fail("--max-evaluations must be from 1 to 2000")
        if options["start"]:
            path = Path(options["start"])
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                self._fail(f"cannot read {path}: {exc}")
        else:
            document = kata.reference_design
            if not document:
                self._fail(f"{kata.title} has no reference design; give one with --from")
        palette = Palette.from_kata(kata)
        seeds = grading_seeds(palette, count=options["seeds"])
        started = time.perf_counter()
        self.stderr.write(f"Searching on seeds {', '.join(map(str, seeds))}; each candidate is graded on all of them.")

        def progress(step: Step) -> None:
            verdict = "passes" if step.passed else f"fails {', '.join(map(str, step.failed))}"
            self.stderr.write(f"  [{step.number:>3}] {time.perf_counter() - started:6.0f} s  ${step.cost:.2f}/h  "
                              f"{step.change}: {verdict}")

        self.stderr.write("  grading the starting design…")
        try:
            found = cheapest_search(palette=palette, document=document, seeds=seeds, progress=progress,
                                    max_evaluations=options["max_evaluations"])
        except SearchError as exc:
            self._fail(str(exc))
        budget = palette.budget_per_hour
        share = 100 * found.cost / budget if budget else 0.0
        self.stdout.write(f"{kata.title}: the cheapest passing design found costs ${found.cost:.2f}/h "
                          f"(started at ${found.start_cost:.2f}/h), {share:.0f} % of the ${budget:.2f}/h budget; "
                          f"{found.evaluations} designs graded in {time.perf_counter() - started:.0f} s.")
        for node in found.document["nodes"]:
            if node.get("params"):
                params = ", ".join(f"{k} {v:g}" for k, v in node["params"].items())
                self.stdout.write(f"  {node['id']}: {params}")
        if options["out"]:
            Path(options["out"]).write_text(json.dumps(found.document, indent=1) + "\n", encoding="utf-8")
            self.stdout.write(f"Written to {options['out']}.")
        if options["save"]:
            services.kata_cheapest_record(kata=kata, cost_per_hour=found.cost)
            self.stdout.write(f"Recorded ${found.cost:.2f}/h as {kata.title}'s cheapest known passing design.")
