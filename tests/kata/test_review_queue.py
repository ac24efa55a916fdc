"""Graders work a needs-review queue, see feedback and overrides in the CSV, edit or delete their own feedback with
an audit trail, and read on the grade why a verdict was overridden."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kata.models import Attempt, FeedbackChange, Run
from kata.services import feedback_add
from tests.kata.test_review import _graded
from tests.personas import make_persona

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(learner, other_learner, clearpay, design_file):
    older = _graded(learner, clearpay, design_file("small-buffer"), [True, False, True, True, False])
    newer = _graded(other_learner, clearpay, design_file("reference"), [True] * 5)
    ungraded = Attempt.objects.create(learner=learner, kata=clearpay, design=design_file("reference"))
    now = timezone.now()
    Run.objects.filter(attempt=older).update(finished_at=now - timedelta(hours=2))
    Run.objects.filter(attempt=newer).update(finished_at=now - timedelta(hours=1))
    return {"older": older, "newer": newer, "ungraded": ungraded}


def _ids(client, **query):
    response = client.get(reverse("review_list"), query)
    assert response.status_code == 200
    return [row["attempt"].pk for row in response.context["page"]]


def test_the_queue_lists_graded_attempts_nobody_reviewed_oldest_first_and_marking_one_takes_it_off(client, grader,
                                                                                                   queue):
    client.force_login(grader)
    assert _ids(client, review="needs", order="queue") == [queue["older"].pk, queue["newer"].pk]
    page = client.get(reverse("review_list"), {"review": "needs"}).content.decode()
    assert page.count('data-testid="needs-review"') == 2

    url = reverse("review_attempt", args=[queue["older"].pk])
    assert "Needs review" in client.get(url).content.decode()
    assert client.post(url, {"action": "reviewed", "reviewed": "1"}).status_code == 302
    assert _ids(client, review="needs", order="queue") == [queue["newer"].pk]
    assert _ids(client, review="reviewed") == [queue["older"].pk]
    assert f"by {grader.username}" in client.get(url).content.decode()

    assert client.post(url, {"action": "reviewed", "reviewed": "0"}).status_code == 302
    assert _ids(client, review="needs", order="queue") == [queue["older"].pk, queue["newer"].pk]


def test_a_later_run_puts_a_reviewed_attempt_back_in_the_queue(client, grader, queue):
    client.force_login(grader)
    attempt = queue["newer"]
    client.post(reverse("review_attempt", args=[attempt.pk]), {"action": "reviewed", "reviewed": "1"})
    assert attempt.pk not in _ids(client, review="needs")
    run = attempt.runs.get()
    Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="succeeded", passed=4, total=5, grade=run.grade,
                       finished_at=timezone.now() + timedelta(seconds=5))
    assert attempt.pk in _ids(client, review="needs")


def test_leaving_feedback_counts_as_reviewing(client, grader, queue):
    client.force_login(grader)
    url = reverse("review_attempt", args=[queue["older"].pk])
    assert client.post(url, {"action": "feedback", "text": "Size the queue for the spike."}).status_code == 302
    assert queue["older"].pk not in _ids(client, review="needs")


def test_the_csv_carries_the_review_state_the_feedback_and_the_overrides(client, grader, queue):
    client.force_login(grader)
    url = reverse("review_attempt", args=[queue["older"].pk])
    client.post(url, {"action": "feedback", "text": "=Size the queue for the spike."})
    client.post(url, {"action": "override", "scenario_id": 2, "passed": "true", "reason": "Drops in the last second."})
    response = client.get(reverse("review_list"), {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    row = next(r for r in rows if r["attempt"] == str(queue["older"].pk))
    assert row["needs review"] == "no" and row["reviewed by"] == grader.username and row["reviewed at"]
    assert row["feedback"] == f"{grader.username}: =Size the queue for the spike."
    assert row["overrides"] == f"scenario 2 fail → pass by {grader.username}: Drops in the last second."
    other = next(r for r in rows if r["attempt"] == str(queue["newer"].pk))
    assert other["needs review"] == "yes" and other["feedback"] == "" and other["overrides"] == ""


def test_a_grader_edits_and_deletes_their_own_feedback_and_the_audit_keeps_what_it_said(client, grader, learner,
                                                                                      queue):
    attempt = queue["older"]
    client.force_login(grader)
    url = reverse("review_attempt", args=[attempt.pk])
    client.post(url, {"action": "feedback", "text": "Make the queue bigger."})
    feedback = attempt.feedback.get()
    assert client.post(url, {"action": "feedback_edit", "feedback_id": feedback.pk,
                             "text": "Size the queue for the whole spike."}).status_code == 302
    feedback.refresh_from_db()
    assert feedback.text == "Size the queue for the whole spike." and feedback.edited_at is not None

    client.force_login(learner)
    page = client.get(reverse("attempt_detail", args=[attempt.pk])).content.decode()
    assert "Size the queue for the whole spike." in page and "edited" in page
    assert "Make the queue bigger." not in page, "the audit trail is for graders"

    client.force_login(grader)
    assert client.post(url, {"action": "feedback_delete", "feedback_id": feedback.pk}).status_code == 302
    assert not attempt.feedback.exists()
    changes = list(FeedbackChange.objects.filter(attempt=attempt).values_list("action", "text_before", "text_after"))
    assert changes == [("edited", "Make the queue bigger.", "Size the queue for the whole spike."),
                       ("deleted", "Size the queue for the whole spike.", "")]
    page = client.get(url).content.decode()
    assert "Make the queue bigger." in page and 'data-testid="feedback-changes"' in page


def test_a_grader_cannot_change_another_graders_feedback(client, grader, queue):
    attempt = queue["older"]
    client.force_login(grader)
    url = reverse("review_attempt", args=[attempt.pk])
    client.post(url, {"action": "feedback", "text": "Mine."})
    feedback = attempt.feedback.get()
    second = make_persona("grader", username="second-grader")
    client.force_login(second)
    page = client.get(url).content.decode()
    assert f'name="feedback_id" value="{feedback.pk}"' not in page, "no edit form for someone else's feedback"
    refused = client.post(url, {"action": "feedback_edit", "feedback_id": feedback.pk, "text": "Theirs now."})
    assert refused.status_code == 400 and "Only the grader who wrote this feedback" in refused.content.decode()
    assert client.post(url, {"action": "feedback_delete", "feedback_id": feedback.pk}).status_code == 400
    feedback.refresh_from_db()
    assert feedback.text == "Mine." and not FeedbackChange.objects.exists()


def test_learners_cannot_use_the_review_actions(client, learner, queue):
    client.force_login(learner)
    url = reverse("review_attempt", args=[queue["older"].pk])
    for data in ({"action": "reviewed", "reviewed": "1"}, {"action": "feedback_delete", "feedback_id": 1}):
        assert client.post(url, data).status_code == 403
    assert Attempt.objects.get(pk=queue["older"].pk).reviewed_at is None


def test_an_overridden_verdict_says_so_and_why_and_the_graders_attempt_link_opens_the_review_page(client, grader,
                                                                                                 learner, queue):
    attempt = queue["older"]
    client.force_login(grader)
    url = reverse("review_attempt", args=[attempt.pk])
    client.post(url, {"action": "override", "scenario_id": 2, "passed": "true", "reason": "Drops in the last second."})
    page = client.get(url).content.decode()
    assert f'href="{url}">attempt #{attempt.pk}</a>' in page, "a grader's attempt link opens what a grader may see"
    client.force_login(learner)
    page = client.get(reverse("attempt_detail", args=[attempt.pk])).content.decode()
    assert 'data-testid="override-note-2"' in page
    assert f"A grader changed this verdict</strong> from fail to pass ({grader.username}," in page
    assert "Drops in the last second." in page


def test_new_feedback_is_emailed_to_the_learner_where_email_is_configured(settings, grader, learner, clearpay,
                                                                          mailoutbox,
                                                                          django_capture_on_commit_callbacks):
    learner.email = "learner@example.com"
    learner.save()
    attempt = Attempt.objects.create(learner=learner, kata=clearpay, design={})
    settings.EMAIL_HOST = ""
    with django_capture_on_commit_callbacks(execute=True):
        feedback_add(grader=grader, attempt=attempt, text="Size the queue for the spike.")
    assert mailoutbox == [], "no email where none is configured"
    settings.EMAIL_HOST, settings.KATA_SITE_URL = "smtp.example.com", "https://kata.example.com/"
    with django_capture_on_commit_callbacks(execute=True):
        feedback_add(grader=grader, attempt=attempt, text="Now the retries.")
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["learner@example.com"] and clearpay.title in mail.subject
    assert "Now the retries." in mail.body and f"https://kata.example.com/attempts/{attempt.pk}/" in mail.body
