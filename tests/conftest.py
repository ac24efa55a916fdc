from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.cache import cache

from kata.models import Kata
from kata.palette import Palette
from kata.services import kata_load_fixture
from kata.sockets import socket_guard_reset
from tests.personas import make_persona


@pytest.fixture
def learner(db):
    return make_persona("learner")


@pytest.fixture
def other_learner(db):
    return make_persona("other_learner")


@pytest.fixture
def instructor(db):
    return make_persona("instructor")


@pytest.fixture
def grader(db):
    return make_persona("grader")


@pytest.fixture
def clearpay(db):
    """The ClearPay kata exactly as `make run` loads it."""

    kata, _ = kata_load_fixture(path=Path(__file__).resolve().parents[1] / "fixtures" / "clearpay" / "kata.json")
    return kata


@pytest.fixture
def clearpay_palette(clearpay):
    return Palette.from_kata(clearpay)


@pytest.fixture
def design_file():
    """Reads a ClearPay design from fixtures/clearpay/designs/<name>.json."""
    root = Path(__file__).resolve().parents[1] / "fixtures" / "clearpay" / "designs"
    return lambda name: json.loads((root / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def clearpay_module_palette(django_db_setup, django_db_blocker):
    """The ClearPay palette for a whole module of expensive grading tests; the kata is removed afterwards, so
    later tests see the database as they expect."""
    path = Path(__file__).resolve().parents[1] / "fixtures" / "clearpay" / "kata.json"
    with django_db_blocker.unblock():
        existed = Kata.objects.filter(slug="clearpay").exists()
        kata, _ = kata_load_fixture(path=path, replace=True)
        palette = Palette.from_kata(kata)
    yield palette
    if not existed:
        with django_db_blocker.unblock():
            Kata.objects.filter(slug="clearpay").delete()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The sign-in limits and check locks live in the cache: every test starts with none counted."""
    cache.clear()
    yield
    cache.clear()
@pytest.fixture(autouse=True)
def _fresh_socket_guard():
    """Each test starts with no sockets counted (the counts are per process, and user ids repeat across tests)."""
    socket_guard_reset()
    yield
    socket_guard_reset()
