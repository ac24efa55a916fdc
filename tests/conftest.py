from __future__ import annotations

import pytest

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
