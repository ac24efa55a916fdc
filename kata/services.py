"""Writes. Views, consumers, admin actions and commands call these and hold no logic of their own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction

from kata.models import Kata

LEARNERS = "learners"
INSTRUCTORS = "instructors"
GRADERS = "graders"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    created: bool


# Fixed on purpose: a local demo must be reachable again after a restart. Refused in production.
_DEMO = (
    ("learner", "learn-clearpay", LEARNERS, False),
    ("instructor", "teach-clearpay", INSTRUCTORS, True),
    ("grader", "grade-clearpay", GRADERS, False),
)


@transaction.atomic
def demo_accounts_ensure() -> list[DemoAccount]:
    """Create the demo learner, instructor and grader if missing; reset their passwords to the documented ones."""
    user_model = get_user_model()
    accounts = []
    for username, password, group_name, is_staff in _DEMO:
        group, _ = Group.objects.get_or_create(name=group_name)
        user: AbstractUser
        user, created = user_model.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = is_staff
        user.save()
        user.groups.add(group)
        accounts.append(DemoAccount(username=username, password=password, role=group_name, created=created))
    return accounts


@transaction.atomic
def kata_load_fixture(*, path: Path, replace: bool = False) -> tuple[Kata, bool]:
    """Create a kata from a fixture file; an existing kata is left alone unless `replace`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    fields = {key: value for key, value in data.items() if key != "slug"}
    existing = Kata.objects.filter(slug=data["slug"]).first()
    if existing is not None and not replace:
        return existing, False
    kata, created = Kata.objects.update_or_create(slug=data["slug"], defaults=fields)
    return kata, created
