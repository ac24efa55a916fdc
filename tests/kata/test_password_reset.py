"""A forgotten password can be reset by mail: the link works once, says nothing about which addresses have accounts,
and one network cannot turn the form into a mailer."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from kata.throttle import RESET_PER_ADDRESS
from tests.personas import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-long-passphrase-42"


def _ask(client: Client, email: str):
    return client.post(reverse("password_reset"), {"email": email})


def _link(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", message.body)
    assert found, message.body
    return found.group(1)


def test_the_login_page_offers_the_reset_and_the_reset_page_asks_for_an_address(client):
    login = client.get(reverse("login")).content.decode()
    assert reverse("password_reset") in login
    page = client.get(reverse("password_reset")).content.decode()
    assert "<h1>Reset your password</h1>" in page and 'name="email"' in page


def test_a_learner_resets_a_forgotten_password_by_mail_and_the_link_works_once(learner):
    learner.email = "learner@example.org"
    learner.save()
    client = Client()
    answer = _ask(client, "Learner@Example.org")
    assert answer.status_code == 302 and answer["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["learner@example.org"]
    assert learner.username in mail.outbox[0].body and "\n" not in mail.outbox[0].subject

    link = _link(mail.outbox[0])
    form = client.get(link, follow=True)  # Django moves the token into the session, then shows the form
    assert "Choose a new password" in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")

    assert Client().login(username=learner.username, password=NEW_PASSWORD)
    assert not Client().login(username=learner.username, password=PASSWORD)
    again = Client().get(link, follow=True).content.decode()
    assert "This link no longer works" in again


def test_an_unknown_address_gets_the_same_answer_and_no_mail(learner):
    answer = _ask(Client(), "nobody@example.org")
    assert answer.status_code == 302 and answer["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_one_network_asking_for_too_many_resets_is_paused_and_others_are_not(learner):
    learner.email = "learner@example.org"
    learner.save()
    for _ in range(RESET_PER_ADDRESS.count):
        assert _ask(Client(REMOTE_ADDR="203.0.113.9"), "learner@example.org").status_code == 302
    paused = _ask(Client(REMOTE_ADDR="203.0.113.9"), "learner@example.org")
    assert paused.status_code == 429
    assert "Too many password resets" in paused.content.decode()
    assert len(mail.outbox) == RESET_PER_ADDRESS.count
    assert _ask(Client(REMOTE_ADDR="198.51.100.4"), "learner@example.org").status_code == 302
    assert len(mail.outbox) == RESET_PER_ADDRESS.count + 1
