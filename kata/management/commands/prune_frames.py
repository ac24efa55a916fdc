from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from kata.runs.frames import run_frames_prune


class Command(BaseCommand):
    help = "Delete the saved frames of runs finished more than KATA_FRAME_RETENTION_DAYS ago (grades and series stay)."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        while (thinned := run_frames_prune(limit=100)):
            total += thinned
        self.stdout.write(
            f"Frames of {total} runs finished over {settings.KATA_FRAME_RETENTION_DAYS} days ago deleted."
        )
