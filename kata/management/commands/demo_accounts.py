from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kata import services


class Command(BaseCommand):
    help = "Create the demo learner, instructor and grader for a local run and print how to log in."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo accounts are never created in production (DJANGO_ENV=production).")
        accounts = services.demo_accounts_ensure()
        self.stdout.write("Demo accounts (local only):")
        for account in accounts:
            self.stdout.write(
                f"  {account.role[:-1]:<11} username: {account.username:<11} password: {account.password}"
            )
