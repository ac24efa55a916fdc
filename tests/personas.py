"""The people of the product, as test users. Shared by pytest fixtures and unittest-style live-server tests."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group

from kata.services import GRADERS, INSTRUCTORS, LEARNERS

PASSWORD = "correct-horse-battery"

_ROLES = {
    "learner": (LEARNERS, False),
    "other_learner": (LEARNERS, False),
    "instructor": (INSTRUCTORS, True),
    "grader": (GRADERS, False),
}


def make_persona(role: str, *, username: str | None = None) -> AbstractUser:
    group_name, is_staff = _ROLES[role]
    user = get_user_model().objects.create_user(
        username=username or role.replace("_", "-"), password=PASSWORD, is_staff=is_staff
    )
    user.groups.add(Group.objects.get_or_create(name=group_name)[0])
    return user
