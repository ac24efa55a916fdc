from __future__ import annotations

import os
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse


def test_sign_up_makes_a_logged_in_learner(client, db):
    response = client.post(reverse("signup"), {"username": "ada", "email": "", "password1": "a-long-passphrase-9",
                                               "password2": "a-long-passphrase-9"})
    assert response.status_code == 302
    user = get_user_model().objects.get(username="ada")
    assert list(user.groups.values_list("name", flat=True)) == ["learners"]
    assert not user.is_staff
    assert b'data-testid="current-user"' in client.get(reverse("home")).content


def test_sign_up_errors_are_shown_and_nothing_is_saved(client, db):
    response = client.post(reverse("signup"), {"username": "ada", "password1": "short", "password2": "other"})
    assert response.status_code == 400
    assert "didn’t match" in response.content.decode()
    assert not get_user_model().objects.filter(username="ada").exists()


def test_password_change_needs_the_old_password(client, learner):
    client.force_login(learner)
    url = reverse("password_change")
    bad = client.post(url, {"old_password": "wrong", "new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})
    assert bad.status_code == 200 and "Your old password was entered incorrectly" in bad.content.decode()
    from tests.personas import PASSWORD

    good = client.post(url, {"old_password": PASSWORD, "new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})
    assert good.status_code == 302
    learner.refresh_from_db()
    assert learner.check_password("brand-new-pass-42")


def test_create_role_user_command_makes_a_staff_grader(db, monkeypatch):
    monkeypatch.setitem(os.environ, "KATA_PASSWORD", "grader-secret-pass-1")
    call_command("create_role_user", "gina", "--role", "grader", stdout=StringIO())
    gina = get_user_model().objects.get(username="gina")
    assert gina.is_staff and gina.has_perm("kata.review_attempt") and gina.has_perm("kata.override_grade")
    assert not gina.has_perm("kata.change_kata")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_role_user", "gina", "--role", "grader", stdout=StringIO())
    monkeypatch.setitem(os.environ, "KATA_PASSWORD", "123")
    with pytest.raises(CommandError, match="too short"):
        call_command("create_role_user", "ivan", "--role", "instructor", stdout=StringIO())
