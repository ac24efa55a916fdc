"""`manage.py compile_design DESIGN --kata SLUG`: a design document through the real compile path, printed as the
network spec the grader simulates and the kata's grading seeds (what `python -m simulator bench` measures)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kata import selectors
from kata.compiler import compile_document
from kata.design import DesignError
from kata.runs.seeds import grading_seeds
from kata.versions import palette_live


class Command(BaseCommand):
    help = "Compile a design document for a kata; print {spec, seeds} as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("design", help="Path to the design JSON document.")
        parser.add_argument("--kata", required=True, help="The kata's slug, e.g. clearpay.")

    def _fail(self, message: str) -> None:
        self.stderr.write(f"compile_design: {message}")
        sys.exit(2)

    def handle(self, *args: Any, **options: Any) -> None:
        kata, problem = selectors.kata_for_command(slug=options["kata"], seeds=None)
        if problem or kata is None:
            self._fail(problem)
        path = Path(options["design"])
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._fail(f"cannot read {path}: {exc}")
        palette = palette_live(kata)  # the rules learners are graded against
        try:
            compiled = compile_document(document, palette)
        except DesignError as exc:
            self._fail(f"invalid design: {exc}")
        self.stdout.write(json.dumps({"kata": kata.slug, "design": str(path), "spec": compiled.spec,
                                      "seeds": grading_seeds(palette)}))
