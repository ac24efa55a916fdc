from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from kata.models import Attempt, Kata


def test_load_katas_loads_clearpay_once_and_keeps_edits(db):
    call_command("load_katas", stdout=StringIO())
    kata = Kata.objects.get(slug="clearpay")
    assert kata.published and kata.difficulty == "advanced"
    kata.title = "Edited by an instructor"
    kata.save()
    out = StringIO()
    call_command("load_katas", stdout=out)
    assert "kept" in out.getvalue()
    assert Kata.objects.get(slug="clearpay").title == "Edited by an instructor"
    call_command("load_katas", "--replace", stdout=StringIO())
    assert Kata.objects.get(slug="clearpay").title.startswith("ClearPay")


def test_demo_accounts_can_log_in_with_the_printed_passwords(db):
    out = StringIO()
    call_command("demo_accounts", stdout=out)
    for line in out.getvalue().splitlines()[1:]:
        words = line.split()
        username, password = words[words.index("username:") + 1], words[words.index("password:") + 1]
        assert authenticate(username=username, password=password) is not None, line
    assert out.getvalue().count("username:") == 3


def test_demo_accounts_are_refused_in_production(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="never created in production"):
        call_command("demo_accounts", stdout=StringIO())


def test_replacing_a_kata_keeps_learners_attempts(learner):
    call_command("load_katas", stdout=StringIO())
    kata = Kata.objects.get(slug="clearpay")
    attempt = Attempt.objects.create(learner=learner, kata=kata, design=kata.reference_design)
    call_command("load_katas", "--replace", stdout=StringIO())
    assert Attempt.objects.filter(pk=attempt.pk, kata=kata).exists()
    assert kata.parts.count() == 10 and kata.scenarios.count() == 6  # five graded, one practice
