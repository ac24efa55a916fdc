from __future__ import annotations

import os
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from kata.services import demo_accounts_ensure
from tests.personas import PASSWORD


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
    bad = client.post(url, {"old_password": "wrong",
                            "new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})
    assert bad.status_code == 200 and "Your old password was entered incorrectly" in bad.content.decode()

    good = client.post(url, {"old_password": PASSWORD,
                             "new_password1": "brand-new-pass-42", "new_password2": "brand-new-pass-42"})
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


def _sign_up(client, username: str):
    return client.post(reverse("signup"), {"username": username, "email": "", "password1": "a-long-passphrase-9",
                                           "password2": "a-long-passphrase-9"})


def _username_errors(response) -> list[str]:
    return response.context["form"].errors.get("username", [])


def test_a_username_mixing_alphabets_is_refused(client, db):
    response = _sign_up(client, "l\u0435arner")  # Cyrillic е among Latin letters
    assert response.status_code == 400
    assert _username_errors(response) == [
        "Use the letters of one alphabet in a username (not, say, Latin and Cyrillic together)."
    ]
    assert not get_user_model().objects.exists()


def test_a_look_alike_of_an_existing_username_is_taken_as_django_says_of_a_duplicate(client, learner):
    exact = _sign_up(client, "learner")
    assert exact.status_code == 400
    duplicate = _username_errors(exact)
    assert duplicate == ["A user with that username already exists."]  # Django's own answer
    # capitals; fullwidth (NFKC)
    for look_alike in ["LEARNER", "Learner", "\uff4c\uff45\uff41\uff52\uff4e\uff45\uff52"]:
        response = _sign_up(client, look_alike)
        assert response.status_code == 400 and _username_errors(response) == duplicate, look_alike
    get_user_model().objects.create_user(username="app", password="x")
    whole_cyrillic = _sign_up(client, "\u0430\u0440\u0440")  # арр: every letter Cyrillic
    assert whole_cyrillic.status_code == 400 and _username_errors(whole_cyrillic) == duplicate
    assert get_user_model().objects.count() == 2


def test_a_fresh_username_reveals_nothing_the_mixed_alphabet_refusal_is_the_same_either_way(client, db):
    before = _username_errors(_sign_up(client, "b\u043eb"))  # Cyrillic о; no 'bob' exists
    get_user_model().objects.create_user(username="bob", password="x")
    after = _username_errors(_sign_up(client, "b\u043eb"))
    assert before == after
    fresh = _sign_up(client, "\u0437\u043e\u044f")  # зоя: Cyrillic, like no one
    assert fresh.status_code == 302
    assert get_user_model().objects.filter(username="\u0437\u043e\u044f").exists()


def test_create_role_user_refuses_a_look_alike(db, monkeypatch, learner):
    monkeypatch.setitem(os.environ, "KATA_PASSWORD", "grader-secret-pass-1")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_role_user", "LEARNER", "--role", "grader", stdout=StringIO())


@pytest.mark.parametrize("username, password, page", [
    ("instructor", "teach-clearpay", "/admin/login/"),
    ("grader", "grade-clearpay", "/accounts/login/"),
    ("learner", "learn-clearpay", "/accounts/login/"),
])
def test_demo_accounts_cannot_log_in_in_production(client, db, settings, username, password, page):
    demo_accounts_ensure()  # a database that once ran in development
    settings.PRODUCTION = True
    response = client.post(page, {"username": username, "password": password, "next": "/admin/"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    settings.PRODUCTION = False  # the same account logs in in development
    assert client.post(page, {"username": username, "password": password}).status_code == 302
    assert "_auth_user_id" in client.session


def test_a_demo_accounts_session_ends_in_production(client, db, settings):
    demo_accounts_ensure()
    client.force_login(get_user_model().objects.get(username="instructor"))
    assert client.get("/admin/").status_code == 200
    settings.PRODUCTION = True
    assert client.get("/admin/").status_code == 302  # to the login page: no longer anyone


def test_an_account_named_like_a_demo_with_its_own_password_logs_in_in_production(client, db, settings):
    get_user_model().objects.create_user(username="learner", password="my-own-long-passphrase")
    settings.PRODUCTION = True
    login = client.post("/accounts/login/", {"username": "learner", "password": "my-own-long-passphrase"})
    assert login.status_code == 302
    assert client.get(reverse("home")).context["user"].is_authenticated
