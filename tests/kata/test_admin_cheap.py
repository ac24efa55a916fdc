"""Admin pages stay cheap whatever the history: no page loads frames; delete pages count what goes along."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kata.models import Attempt, Run, RunFrame


def _history(kata, learner, *, runs: int, frames: int) -> Attempt:
    attempt = Attempt.objects.create(learner=learner, kata=kata, design={"nodes": [], "edges": []})
    for _ in range(runs):
        run = Run.objects.create(attempt=attempt, seeds=[1], status="succeeded", results={"pad": "x" * 2000})
        RunFrame.objects.bulk_create(RunFrame(run=run, seq=i, payload={"seq": i, "pad": "x" * 500})
                                     for i in range(1, frames + 1))
    return attempt


def _queries(client, url: str) -> tuple[int, list[str], str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), [q["sql"] for q in captured], response.content.decode()


def _reads_frames(sqls: list[str]) -> bool:
    return any('"kata_runframe"."payload"' in sql or '"kata_runframe"."seq"' in sql for sql in sqls)


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "correct-horse-battery")


@pytest.mark.parametrize("page", ["attempt", "user"])
def test_delete_pages_count_related_rows_without_loading_frames(client, admin_user, clearpay, learner, page):
    client.force_login(admin_user)
    attempt = _history(clearpay, learner, runs=3, frames=5)
    url = {
        "attempt": reverse("admin:kata_attempt_delete", args=[attempt.pk]),
        "user": reverse("admin:auth_user_delete", args=[learner.pk]),
    }[page]
    small, sqls, html = _queries(client, url)
    assert not _reads_frames(sqls)
    assert "Run frames: 15" in html and "Runs: 3" in html
    # Ten times the history: the same page, the same queries.
    for _ in range(9):
        _history(clearpay, learner, runs=3, frames=50)
    large, sqls, html = _queries(client, url)
    assert not _reads_frames(sqls)
    assert large == small
    if page != "attempt":
        assert "Run frames: 1365" in html and "Runs: 30" in html


def test_a_kata_with_history_is_refused_cheaply_whatever_its_history(client, admin_user, clearpay, learner):
    client.force_login(admin_user)
    _history(clearpay, learner, runs=3, frames=5)
    url = reverse("admin:kata_kata_delete", args=[clearpay.pk])
    small, sqls, html = _queries(client, url)
    assert not _reads_frames(sqls)
    assert "Cannot delete" in html and "archive the kata instead" in html and "Attempts: 1" in html
    for _ in range(9):
        _history(clearpay, learner, runs=3, frames=50)
    large, sqls, html = _queries(client, url)
    assert not _reads_frames(sqls) and large == small
    assert "Attempts: 10" in html


def test_an_instructor_is_told_what_they_may_not_delete(client, instructor, clearpay, learner):
    attempt = _history(clearpay, learner, runs=1, frames=3)
    client.force_login(instructor)
    count, sqls, html = _queries(client, reverse("admin:kata_kata_delete", args=[clearpay.pk]))
    assert not _reads_frames(sqls)
    assert "archive the kata instead" in html
    assert client.get(reverse("admin:kata_attempt_delete", args=[attempt.pk])).status_code == 403


def test_deleting_an_attempt_from_the_admin_still_deletes_its_runs_and_frames(client, admin_user, clearpay, learner):
    client.force_login(admin_user)
    attempt = _history(clearpay, learner, runs=2, frames=4)
    response = client.post(reverse("admin:kata_attempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Attempt.objects.filter(pk=attempt.pk).exists() and RunFrame.objects.count() == 0


def test_delete_selected_counts_across_the_selection(client, admin_user, clearpay, learner):
    client.force_login(admin_user)
    attempts = [_history(clearpay, learner, runs=1, frames=2) for _ in range(3)]
    with CaptureQueriesContext(connection) as captured:
        response = client.post(reverse("admin:kata_attempt_changelist"),
                               {"action": "delete_selected", "_selected_action": [a.pk for a in attempts]})
    assert response.status_code == 200 and not _reads_frames([q["sql"] for q in captured])
    assert "Run frames: 6" in response.content.decode()


def test_the_attempt_change_page_reads_no_frames_and_no_run_results(client, admin_user, clearpay, learner):
    client.force_login(admin_user)
    attempt = _history(clearpay, learner, runs=5, frames=20)
    _, sqls, html = _queries(client, reverse("admin:kata_attempt_change", args=[attempt.pk]))
    assert not any("kata_runframe" in sql for sql in sqls)
    assert not any('"kata_run"."results"' in sql for sql in sqls)
    assert html.count("succeeded") >= 5 or html.count("Succeeded") >= 5
