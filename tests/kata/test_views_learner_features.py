"""What learners asked for beyond the loop: reopening an attempt, importing a design, a share link, a part's own
figures after a run, progress on the home page and a notice of new grader feedback."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kata import selectors, services
from kata.models import Attempt, Feedback, Run


@pytest.fixture
def logged_in(client, learner, clearpay):
    client.force_login(learner)
    return client


def _attempt(learner, kata, design, *, passed=5, results=None):
    attempt = Attempt.objects.create(learner=learner, kata=kata, design=design)
    grade = {"kata": kata.slug, "passed": passed, "total": 5, "seeds": [1, 2, 3], "scenarios": [
        {"id": 1, "title": "Fast acknowledgement", "metric": "accept_p99_ms", "comparator": "le", "passed": passed == 5,
         "value": 117.0, "threshold": 300, "unit": "ms", "explanation": "Seed 2: fine", "next_step": "",
         "worst_seed": 2, "values": [100.0, 117.0, 110.0]},
    ]}
    run = Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="succeeded", passed=passed, total=5, grade=grade,
                             results=results or {})
    return attempt, run


def test_open_in_workspace_hands_the_attempts_design_to_the_canvas_without_touching_the_draft(
        logged_in, learner, other_learner, clearpay, design_file):
    attempt, _ = _attempt(learner, clearpay, design_file("reference"))
    services.draft_save(learner=learner, kata=clearpay, document={"nodes": [], "edges": []})
    page = logged_in.get(reverse("workspace", args=["clearpay"]), {"from": attempt.pk})
    assert page.context["opened"] == {"attempt": attempt.pk, "design": attempt.design}
    assert 'id="opened-data"' in page.content.decode()
    assert selectors.draft_get(learner=learner, kata=clearpay).design == {"nodes": [], "edges": []}
    # Someone else's attempt, or nonsense, opens nothing.
    theirs, _ = _attempt(other_learner, clearpay, design_file("reference"))
    for value in (theirs.pk, "x", "99999999"):
        assert logged_in.get(reverse("workspace", args=["clearpay"]), {"from": value}).context["opened"] is None
    detail = logged_in.get(reverse("attempt_detail", args=[attempt.pk])).content.decode()
    assert f'/katas/clearpay/workspace/?from={attempt.pk}' in detail
    history = logged_in.get(reverse("attempt_history", args=["clearpay"])).content.decode()
    assert f'?from={attempt.pk}' in history


def test_import_is_checked_with_clear_reasons(logged_in, design_file):
    url = reverse("design_import_check", args=["clearpay"])
    good = logged_in.post(url, json.dumps(design_file("reference")), content_type="application/json")
    assert good.status_code == 200 and good.json() == {"ok": True, "problems": []}
    unfinished = logged_in.post(url, json.dumps({"nodes": [{"id": "lb", "part": "lb", "x": 5, "y": 5}], "edges": []}),
                                content_type="application/json")
    assert unfinished.status_code == 200 and unfinished.json()["problems"], "a draft may have problems: listed"
    alien = logged_in.post(url, json.dumps({"nodes": [{"id": "x", "part": "photo_resizer", "x": 5, "y": 5}],
                                            "edges": []}), content_type="application/json")
    assert alien.status_code == 422 and "parts that ClearPay" in alien.json()["error"]
    assert "photo_resizer" in alien.json()["error"]
    shapeless = logged_in.post(url, json.dumps({"design": []}), content_type="application/json")
    assert shapeless.status_code == 422 and shapeless.json()["error"].startswith("This file is not a design")
    not_json = logged_in.post(url, "{nope", content_type="application/json")
    assert not_json.status_code == 422 and "not JSON" in not_json.json()["error"]


def test_a_share_link_shows_design_and_grade_without_the_learner_and_can_be_revoked(
        logged_in, client, learner, other_learner, clearpay, design_file):
    attempt, _ = _attempt(learner, clearpay, design_file("reference"))
    share = reverse("attempt_share", args=[attempt.pk])
    assert logged_in.post(share, {"share": "on"}).status_code == 302
    attempt.refresh_from_db()
    token = attempt.share_token
    assert token and len(token) >= 32
    detail = logged_in.get(reverse("attempt_detail", args=[attempt.pk])).content.decode()
    assert f"/shared/{token}/" in detail
    client.logout()
    shared = client.get(reverse("attempt_shared", args=[token]))
    body = shared.content.decode()
    assert shared.status_code == 200 and 'id="design-data"' in body and 'data-testid="grade-score"' in body
    assert learner.get_username() not in body and f"attempt #{attempt.pk}" not in body
    assert 'name="robots" content="noindex"' in body
    # Another learner cannot share it; its learner can revoke it, and the old link is gone for good.
    client.force_login(other_learner)
    assert client.post(share, {"share": "off"}).status_code == 404
    client.force_login(learner)
    client.post(share, {"share": "off"})
    attempt.refresh_from_db()
    assert attempt.share_token is None
    assert client.get(reverse("attempt_shared", args=[token])).status_code == 404
    client.post(share, {"share": "on"})
    attempt.refresh_from_db()
    assert attempt.share_token != token


def test_a_parts_panel_shows_its_own_figures_of_the_learners_last_run(logged_in, learner, other_learner, clearpay,
                                                                     design_file):
    station = {"name": "queue", "kind": "buffer", "arrivals": 120_000, "errors": 0, "rejected": 0, "recovered": 412,
               "exhausted": 0, "lost": 0, "utilization": 0.41, "utilization_peak": 0.97, "max_queue": 38_211,
               "wait": {"p50": 0.002, "p95": 1.5, "p99": 498.1}, "sojourn": {"p50": 0.25, "p95": 2.0, "p99": 500.0}}
    results = {"1": {"stations": []}, "2": {"stations": [station]}, "3": {"stations": []}}
    _, run = _attempt(learner, clearpay, design_file("reference"), results=results)
    url = reverse("inspector", args=["clearpay"])
    body = logged_in.get(url, {"part": "queue", "node": "queue", "run": run.pk},
                         HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="part-figures"' in body and "seed 2, the worst of 3" in body
    assert "2 ms" in body and "1.5 s" in body and "498 s" in body and "38,211" in body and "412" in body
    assert "e+" not in body
    # Without a run, or with someone else's, the panel has no figures.
    assert "part-figures" not in logged_in.get(url, {"part": "queue", "node": "queue"}).content.decode()
    _, theirs = _attempt(other_learner, clearpay, design_file("reference"), results=results)
    other = logged_in.get(url, {"part": "queue", "node": "queue", "run": theirs.pk}).content.decode()
    assert "part-figures" not in other


def test_home_shows_best_grade_attempts_and_new_feedback_until_the_attempt_is_opened(
        logged_in, learner, grader, clearpay, design_file):
    assert 'data-testid="progress-clearpay"' not in logged_in.get(reverse("home")).content.decode()
    _attempt(learner, clearpay, design_file("reference"), passed=3)
    best, _ = _attempt(learner, clearpay, design_file("reference"), passed=5)
    home = logged_in.get(reverse("home")).content.decode()
    assert "best 5/5" in home and "2 attempts" in home and "new feedback" not in home
    Feedback.objects.create(attempt=best, grader=grader, text="Nice queue.")
    home = logged_in.get(reverse("home")).content.decode()
    assert 'data-testid="new-feedback-clearpay"' in home
    history = logged_in.get(reverse("attempt_history", args=["clearpay"])).content.decode()
    assert f'data-testid="new-feedback-{best.pk}"' in history
    workspace = logged_in.get(reverse("workspace", args=["clearpay"])).content.decode()
    assert 'data-testid="history-new-feedback"' in workspace and "1 new" in workspace
    # Opening the attempt reads its feedback: the marks go; an edit later makes it new again.
    logged_in.get(reverse("attempt_detail", args=[best.pk]))
    assert "new-feedback" not in logged_in.get(reverse("home")).content.decode()
    assert "new-feedback" not in logged_in.get(reverse("attempt_history", args=["clearpay"])).content.decode()
    Feedback.objects.filter(attempt=best).update(edited_at=timezone.now() + timedelta(seconds=5))
    assert 'data-testid="new-feedback-clearpay"' in logged_in.get(reverse("home")).content.decode()


def test_a_grader_opening_the_attempt_does_not_mark_its_feedback_seen(client, learner, grader, clearpay, design_file):
    attempt, _ = _attempt(learner, clearpay, design_file("reference"))
    Feedback.objects.create(attempt=attempt, grader=grader, text="Look at the gateway.")
    client.force_login(grader)
    client.get(reverse("review_attempt", args=[attempt.pk]))
    assert selectors.attempts_with_new_feedback(learner=learner) == {attempt.pk}
