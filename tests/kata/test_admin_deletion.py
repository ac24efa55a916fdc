"""Deleting in the admin never takes a learner's work: a kata with attempts is archived, not deleted; attempts and
accounts are deleted by superusers only, audited; the delete pages count rows instead of listing them."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from kata.models import Attempt, Kata, Run, RunFrame
from tests.personas import make_persona

FRAMES = 3000


@pytest.fixture
def worked_on(learner, clearpay, design_file):
    """ClearPay with one learner's attempt, its graded run and a run's worth of frames."""
    attempt = Attempt.objects.create(learner=learner, kata=clearpay, design=design_file("reference"))
    run = Run.objects.create(attempt=attempt, seeds=[1], status="succeeded", passed=5, total=5)
    RunFrame.objects.bulk_create(RunFrame(run=run, seq=i, payload={"seq": i}) for i in range(1, FRAMES + 1))
    return attempt


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-password-1")


def test_a_kata_with_attempts_cannot_be_deleted_even_by_a_superuser(client, superuser, worked_on,
                                                                     django_assert_max_num_queries):
    client.force_login(superuser)
    url = reverse("admin:kata_kata_delete", args=[worked_on.kata_id])
    # A few per relation whatever the history (versions, checks and must-fail designs are three of them).
    with django_assert_max_num_queries(35):
        page = client.get(url)
    assert page.status_code == 200
    assert "1 attempt(s) and 0 draft(s) of learners are kept; archive the kata instead" in page.content.decode()
    assert client.post(url, {"post": "yes"}).status_code == 200, "refused, the page shown again"
    changelist = reverse("admin:kata_kata_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [worked_on.kata_id], "post": "yes"})
    assert Kata.objects.filter(pk=worked_on.kata_id).exists()
    assert Attempt.objects.count() == 1 and RunFrame.objects.count() == FRAMES


def test_an_archived_kata_is_hidden_from_learners_and_its_attempts_stay_reviewable(client, instructor, grader, learner,
                                                                                    worked_on):
    client.force_login(instructor)
    response = client.post(reverse("admin:kata_kata_changelist"),
                           {"action": "archive", "_selected_action": [worked_on.kata_id]})
    assert response.status_code == 302
    assert Kata.objects.get(pk=worked_on.kata_id).archived
    client.force_login(learner)
    assert client.get("/katas/clearpay/").status_code == 404
    assert "ClearPay" not in client.get("/").content.decode()
    assert client.get(reverse("attempt_detail", args=[worked_on.pk])).status_code == 200, "the learner keeps it"
    client.force_login(grader)
    assert client.get(reverse("review_attempt", args=[worked_on.pk])).status_code == 200


def test_a_kata_nobody_worked_on_can_be_deleted(client, instructor, clearpay):
    client.force_login(instructor)
    url = reverse("admin:kata_kata_delete", args=[clearpay.pk])
    assert "Scenarios: 6" in client.get(url).content.decode()  # the five graded and one practice scenario
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Kata.objects.exists()


def test_only_a_superuser_deletes_an_attempt_and_the_deletion_is_audited(client, instructor, superuser, worked_on,
                                                                        django_assert_max_num_queries, caplog):
    url = reverse("admin:kata_attempt_delete", args=[worked_on.pk])
    instructor.user_permissions.add(*Permission.objects.filter(codename__in=["delete_attempt", "view_attempt"]))
    client.force_login(instructor)
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Attempt.objects.exists()

    client.force_login(superuser)
    with django_assert_max_num_queries(25):
        page = client.get(url)
    assert page.status_code == 200 and f"Run frames: {FRAMES}" in page.content.decode()
    assert len(page.content) < 40_000, "counted, not listed row by row"
    with caplog.at_level("WARNING", logger="kata.audit"):
        assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Attempt.objects.exists() and not RunFrame.objects.exists()
    assert LogEntry.objects.filter(action_flag=DELETION, user=superuser, object_id=str(worked_on.pk)).exists()
    assert any("root deleted attempt" in r.getMessage() for r in caplog.records)


def test_only_a_superuser_deletes_an_account_and_its_page_counts_the_work(client, superuser, learner, worked_on,
                                                                        django_assert_max_num_queries):
    staff = make_persona("instructor", username="staff-with-user-rights")
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["delete_user", "view_user", "change_user"]))
    url = reverse("admin:auth_user_delete", args=[learner.pk])
    client.force_login(staff)
    assert client.get(url).status_code == 403
    client.force_login(superuser)
    with django_assert_max_num_queries(28):  # a few per model that cascades from an account, never one per row
        page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200 and "Attempts: 1" in body and f"Run frames: {FRAMES}" in body
    assert len(page.content) < 40_000, "counted, not listed row by row"
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not get_user_model().objects.filter(pk=learner.pk).exists()
    assert LogEntry.objects.filter(action_flag=DELETION, object_id=str(learner.pk)).exists()
