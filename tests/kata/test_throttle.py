"""Sign-in and sign-up limits: per account and per address, with a message to whoever is paused and nobody else
slowed down; the admin's login is covered too."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from kata.throttle import LOGIN_PER_ACCOUNT, LOGIN_PER_ADDRESS, SIGNUP_PER_ADDRESS
from tests.personas import PASSWORD, make_persona

pytestmark = pytest.mark.django_db


def _client(address: str = "203.0.113.7") -> Client:
    return Client(REMOTE_ADDR=address)


def _log_in(client: Client, username: str, password: str, url: str = "/accounts/login/"):
    return client.post(url, {"username": username, "password": password})


def test_an_account_is_paused_after_its_failures_and_others_sign_in_as_ever(learner, other_learner):
    attacker = _client()
    for _ in range(LOGIN_PER_ACCOUNT.count):
        assert _log_in(attacker, learner.username, "guess").status_code == 200
    paused = _log_in(_client("198.51.100.1"), learner.username, PASSWORD)
    assert paused.status_code == 429
    assert "Too many failed sign-ins for this account" in paused.content.decode()
    assert _log_in(_client(), other_learner.username, PASSWORD).status_code == 302, "nobody else is slowed down"


def test_a_correct_sign_in_clears_its_account_s_failures(learner):
    client = _client()
    for _ in range(LOGIN_PER_ACCOUNT.count - 1):
        _log_in(client, learner.username, "guess")
    assert _log_in(client, learner.username, PASSWORD).status_code == 302
    client = _client()
    for _ in range(LOGIN_PER_ACCOUNT.count - 1):
        _log_in(client, learner.username, "guess")
    assert _log_in(client, learner.username, PASSWORD).status_code == 302


def test_an_address_is_paused_after_failures_across_many_accounts(learner):
    sprayer = _client("192.0.2.9")
    for i in range(LOGIN_PER_ADDRESS.count):
        _log_in(sprayer, f"someone-{i}", "guess")
    paused = _log_in(sprayer, learner.username, PASSWORD)
    assert paused.status_code == 429 and "from your network" in paused.content.decode()
    assert _log_in(_client("192.0.2.10"), learner.username, PASSWORD).status_code == 302


def test_the_admin_login_is_paused_too(instructor):
    client = _client()
    for _ in range(LOGIN_PER_ACCOUNT.count):
        _log_in(client, instructor.username, "guess", url="/admin/login/")
    paused = _log_in(_client("198.51.100.2"), instructor.username, PASSWORD, url="/admin/login/")
    assert "Too many failed sign-ins for this account" in paused.content.decode()
    assert "_auth_user_id" not in paused.wsgi_request.session


def test_sign_ups_from_one_address_are_limited(db):
    def sign_up(client: Client, name: str):
        return client.post(reverse("signup"), {"username": name, "email": "", "password1": "a-long-passphrase-9",
                                               "password2": "a-long-passphrase-9"})

    for i in range(SIGNUP_PER_ADDRESS.count):
        assert sign_up(_client(), f"new-{i}").status_code == 302
    refused = sign_up(_client(), "one-too-many")
    assert refused.status_code == 429 and "Too many accounts" in refused.content.decode()
    assert not get_user_model().objects.filter(username="one-too-many").exists()
    assert sign_up(_client("198.51.100.3"), "elsewhere").status_code == 302


def test_personas_still_sign_in(db):
    make_persona("grader")
    assert _log_in(_client(), "grader", PASSWORD).status_code == 302
