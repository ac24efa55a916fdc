from __future__ import annotations

import getpass
import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from kata import services
from kata.accounts import username_refusal
from kata.usernames import username_normalize


class Command(BaseCommand):
    help = "Create an instructor or a grader. The password comes from $KATA_PASSWORD or is asked for."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=["instructor", "grader"], required=True)
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        username = username_normalize(options["username"])
        if get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"A user called '{username}' already exists.")
        if refusal := username_refusal(username):
            raise CommandError(refusal)
        password = os.environ.get("KATA_PASSWORD") or getpass.getpass(f"Password for {username}: ")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        services.staff_user_create(username=username, password=password, role=options["role"], email=options["email"])
        self.stdout.write(f"Created {options['role']} '{username}'.")
