from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from kata import authoring, services


class Command(BaseCommand):
    help = "Load the katas shipped in fixtures/ (creates missing ones; never overwrites an instructor's edits)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--replace", action="store_true", help="Overwrite katas that already exist.")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(settings.BASE_DIR) / "fixtures"
        for path in sorted(root.glob("*/kata.json")):
            kata, created = services.kata_load_fixture(path=path, replace=options["replace"])
            state = "loaded" if created else ("replaced" if options["replace"] else "kept (already present)")
            self.stdout.write(f"Kata {kata.slug}: {state}")
        for version in authoring.kata_versions_ensure():
            self.stdout.write(f"Kata {version.kata.slug}: published as version {version.number}")
