"""Error pages look like the rest of the site, give the reason and a way back, and leak nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.views.defaults import server_error

from kata.models import Attempt

pytestmark = pytest.mark.django_db


def _page(response) -> str:
    body = response.content.decode()
    assert 'data-testid="error-page"' in body, body[:300]
    assert 'href="/"' in body or f'href="{reverse("home")}"' in body, "a way back"
    assert "kata/css/app.css" in body, "styled like the site"
    return body


def test_an_unknown_page_is_a_styled_404_with_its_path(client):
    response = client.get("/katas/no-such-kata/")
    assert response.status_code == 404
    assert "/katas/no-such-kata/" in _page(response)


def test_another_learner_s_attempt_is_the_same_404_as_a_missing_one(clearpay, learner, other_learner):
    attempt = Attempt.objects.create(learner=other_learner, kata=clearpay, design=clearpay.reference_design)
    client = Client()
    client.force_login(learner)
    theirs = client.get(reverse("attempt_detail", args=[attempt.pk]))
    missing = client.get(reverse("attempt_detail", args=[attempt.pk + 1000]))
    assert theirs.status_code == missing.status_code == 404
    assert other_learner.username not in _page(theirs)
    _page(missing)


def test_a_learner_on_the_review_pages_gets_a_styled_403_with_the_reason(learner):
    client = Client()
    client.force_login(learner)
    response = client.get(reverse("review_list"))
    assert response.status_code == 403
    assert "Only graders review attempts." in _page(response)


def test_a_form_sent_without_its_csrf_token_gets_a_styled_403_that_says_nothing_changed(learner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(learner)
    response = client.post(reverse("logout"))
    assert response.status_code == 403
    assert "nothing was changed" in _page(response)


def test_a_server_error_is_a_styled_500_rendered_without_any_context(rf):
    response = server_error(rf.get("/katas/"))  # Django's own handler, as a crash calls it
    assert response.status_code == 500
    assert "Something went wrong on our side" in _page(response)
