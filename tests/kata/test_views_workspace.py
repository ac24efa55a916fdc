"""The workspace's server side: pages, htmx partials, autosave, history and compare."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kata import services
from kata.models import Attempt, Draft, Run
from kata.templatetags.kata_tags import change, measure


@pytest.fixture
def logged_in(client, learner, clearpay):
    client.force_login(learner)
    return client


def test_workspace_requires_login_and_starts_from_the_required_parts(client, learner, clearpay):
    url = reverse("workspace", args=["clearpay"])
    assert client.get(url).status_code == 302
    client.force_login(learner)
    response = client.get(url)
    assert response.status_code == 200
    design = response.context["design"]
    assert {n["part"] for n in design["nodes"]} == {"checkout", "status_clients", "gateway", "ledger_db", "status_api"}
    body = response.content.decode()
    assert 'data-part="settlement_worker"' in body and 'id="palette-data"' in body
    assert "/static/plotly/plotly.min.js" in body


def test_draft_autosave_keeps_incomplete_designs_and_reports_their_problems(logged_in, learner, clearpay):
    url = reverse("draft_save", args=["clearpay"])
    document = {"nodes": [{"id": "checkout", "part": "checkout", "x": 10, "y": 10}], "edges": []}
    response = logged_in.post(url, json.dumps(document), content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["saved"] is True
    assert any("Payment gateway" in p["message"] for p in body["problems"])
    assert Draft.objects.get(learner=learner, kata=clearpay).design == document
    page = logged_in.get(reverse("workspace", args=["clearpay"]))
    assert page.context["design"] == document, "the workspace reopens the draft"


@pytest.mark.parametrize("payload", ["[]", "not json", '{"nodes": {}, "edges": []}'])
def test_draft_autosave_refuses_documents_that_are_not_designs(logged_in, payload):
    response = logged_in.post(reverse("draft_save", args=["clearpay"]), payload, content_type="application/json")
    assert response.status_code == 400 and response.json()["saved"] is False


def test_inspector_renders_the_part_form_with_current_values(logged_in):
    response = logged_in.get(reverse("inspector", args=["clearpay"]),
                             {"part": "settlement_worker", "node": "workers", "params": json.dumps({"instances": 5})},
                             HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="instances"' in body and 'value="5"' in body and 'max="30"' in body
    assert "<html" not in body, "a partial, not a page"


def test_inspector_post_validates_on_the_server_and_triggers_the_editor(logged_in):
    url = reverse("inspector", args=["clearpay"])
    bad = logged_in.post(url, {"part": "settlement_worker", "node": "workers", "instances": 99, "cores": 2,
                               "concurrency": 4}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    assert "Ensure this value is less than or equal to 30." in bad.content.decode()
    assert "HX-Trigger" not in bad
    off_step = logged_in.post(url, {"part": "queue", "node": "queue", "capacity": 30050, "acknowledges": "on",
                                    "max_attempts": 5, "backoff_ms": 500}, HTTP_HX_REQUEST="true")
    assert off_step.status_code == 422
    assert "on the steps of 100 from 100 (100, 200, 300, …)" in off_step.content.decode()
    no_cores = logged_in.post(url, {"part": "settlement_worker", "node": "workers", "instances": 1, "cores": 2,
                                    "concurrency": 20}, HTTP_HX_REQUEST="true")
    assert no_cores.status_code == 422 and "2 cores hold at most 4 requests in flight" in no_cores.content.decode()
    good = logged_in.post(url, {"part": "settlement_worker", "node": "workers", "instances": 5, "cores": 4,
                                "concurrency": 8}, HTTP_HX_REQUEST="true")
    assert good.status_code == 200
    assert json.loads(good["HX-Trigger"]) == {
        "kata:params": {"node": "workers", "params": {"instances": 5.0, "cores": 4.0, "concurrency": 8.0}}
    }


def test_inspector_for_a_fixed_part_explains_it_cannot_be_sized(logged_in):
    response = logged_in.get(reverse("inspector", args=["clearpay"]), {"part": "gateway", "node": "gateway"})
    assert "50 calls in flight, not yours to size" in response.content.decode()
    assert logged_in.get(reverse("inspector", args=["clearpay"]), {"part": "nope", "node": "x"}).status_code == 422


def test_estimate_partial_shows_lints_for_a_naive_design(logged_in, design_file):
    url = reverse("estimate", args=["clearpay"])
    body = logged_in.post(url, json.dumps(design_file("sync-gateway")),
                          content_type="application/json").content.decode()
    assert "is on the synchronous path" in body
    assert "No buffer in front of Payment gateway (external)" in body
    assert "≥ 2.0 s" in body and "past the 2.0 s deadline" in body  # the p99 reaches the checkout's deadline
    body = logged_in.post(url, json.dumps(design_file("peak-sized-settlement")),
                          content_type="application/json").content.decode()
    assert ("The slots of Settlement worker (workers) (52) would push Payment gateway (external) to 99 % at the peak"
            in body)
    assert "over the $2.50/h budget" in body
    body = logged_in.post(url, json.dumps(design_file("reference")), content_type="application/json").content.decode()
    assert 'data-testid="lint"' not in body
    assert "117 ms</span><small class=\"muted\"> p99 (target 300 ms)" in body
    assert "36 ms<small class=\"muted\"> mean" in body
    body = logged_in.post(url, json.dumps({"nodes": [], "edges": []}), content_type="application/json").content.decode()
    # The workspace lists the design's problems above the estimate: the estimate does not list them again.
    assert "none of the problems listed above" in body and "<li>" not in body


def test_problems_name_parts_by_their_label_never_by_their_index(logged_in, design_file):
    design = design_file("reference")
    api = next(n for n in design["nodes"] if n["part"] == "intent_api")
    api["params"]["instances"] = 99
    design["nodes"].append({**api, "id": "api2", "params": {"instances": 0}})
    response = logged_in.post(reverse("draft_save", args=["clearpay"]), json.dumps(design),
                              content_type="application/json")
    texts = [p["text"] for p in response.json()["problems"]]
    assert any(t.startswith("Payment-intent API (api) · Instances: 99 is out of range") for t in texts), texts
    assert any(t.startswith("Payment-intent API (api2) · Instances: 0 is out of range") for t in texts), texts
    assert not any("nodes[" in t for t in texts), texts
    page = logged_in.get(reverse("workspace", args=["clearpay"])).content.decode()
    assert "Payment-intent API (api) · Instances: 99 is out of range" in page and "nodes[" not in page


def _attempt_with_run(learner, kata, design, passed, value):
    attempt = Attempt.objects.create(learner=learner, kata=kata, design=design)
    grade = {"kata": kata.slug, "passed": passed, "total": 5, "seeds": [1, 2, 3], "scenarios": [
        {"id": 1, "title": "Fast acknowledgement", "metric": "accept_p99_ms", "comparator": "le",
         "passed": value <= 300, "value": value, "threshold": 300, "unit": "ms", "explanation": "because",
         "next_step": "do this", "worst_seed": 1, "values": [value]},
    ]}
    Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="succeeded", passed=passed, total=5, grade=grade,
                       series={"seed": 1, "stations": ["lb"],
                               "points": [{"t": 1.0, "acc": [1, 2, value], "set": [None] * 3,
                                           "err": 0.0, "cost": 3.47, "u": {"lb": 0.1}, "q": {"lb": 0}}]})
    return attempt


def test_history_lists_own_attempts_newest_first_with_grades(logged_in, learner, other_learner, clearpay, design_file):
    older = _attempt_with_run(learner, clearpay, design_file("sync-gateway"), 1, 500)
    newer = _attempt_with_run(learner, clearpay, design_file("reference"), 5, 110)
    _attempt_with_run(other_learner, clearpay, design_file("reference"), 5, 100)
    response = logged_in.get(reverse("attempt_history", args=["clearpay"]))
    rows = response.context["rows"]
    assert [r["attempt"].pk for r in rows] == [newer.pk, older.pk]
    assert "5/5" in response.content.decode() and "1/5" in response.content.decode()


def test_compare_shows_design_changes_and_metric_deltas(logged_in, learner, clearpay, design_file):
    a = _attempt_with_run(learner, clearpay, design_file("small-buffer"), 3, 120)
    b = _attempt_with_run(learner, clearpay, design_file("reference"), 5, 110)
    response = logged_in.get(reverse("attempt_compare", args=["clearpay"]), {"left": a.pk, "right": b.pk})
    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert any(c.kind == "changed" and c.subject == "queue" and "capacity 5000 → 60000" in c.detail
               for c in comparison.changes)
    assert comparison.metrics[0].delta == -10
    assert set(comparison.figures) == {"accept", "errors", "cost", "utilization"}


def test_compare_refuses_someone_elses_attempt_and_the_same_twice(
    logged_in, learner, other_learner, clearpay, design_file
):
    mine = _attempt_with_run(learner, clearpay, design_file("reference"), 5, 110)
    theirs = _attempt_with_run(other_learner, clearpay, design_file("reference"), 5, 110)
    url = reverse("attempt_compare", args=["clearpay"])
    assert logged_in.get(url, {"left": mine.pk, "right": theirs.pk}).status_code == 400
    assert logged_in.get(url, {"left": mine.pk, "right": mine.pk}).status_code == 400


def test_attempt_and_grade_pages_are_private(logged_in, client, learner, other_learner, clearpay, design_file):
    theirs = _attempt_with_run(other_learner, clearpay, design_file("reference"), 5, 110)
    assert logged_in.get(reverse("attempt_detail", args=[theirs.pk])).status_code == 404
    assert logged_in.get(reverse("run_grade", args=[theirs.runs.get().pk])).status_code == 404
    mine = _attempt_with_run(learner, clearpay, design_file("reference"), 5, 110)
    page = logged_in.get(reverse("attempt_detail", args=[mine.pk]))
    assert page.status_code == 200 and "figures-data" in page.content.decode()
    partial = logged_in.get(reverse("run_grade", args=[mine.runs.get().pk]), HTTP_HX_REQUEST="true")
    assert b'data-testid="scenario-1"' in partial.content and b"<html" not in partial.content


def test_a_body_over_the_limit_gets_a_clear_413(logged_in, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = json.dumps({"nodes": [{"id": f"n{i}", "part": "lb"} for i in range(200)], "edges": []})
    for url in (reverse("draft_save", args=["clearpay"]), reverse("run_start", args=["clearpay"]),
                reverse("estimate", args=["clearpay"])):
        response = logged_in.post(url, body, content_type="application/json")
        assert response.status_code == 413, url
        assert "larger than 2 KiB" in response.json()["error"]
    assert not Draft.objects.exists() and not Attempt.objects.exists()


def test_a_run_orphaned_by_a_restart_is_failed_with_a_reason_and_does_not_block_the_next(
    logged_in, learner, clearpay, design_file
):


    attempt = Attempt.objects.create(learner=learner, kata=clearpay, design=design_file("reference"))
    orphan = Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="running")
    Run.objects.filter(pk=orphan.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    fresh = Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="running")
    page = logged_in.get(reverse("workspace", args=["clearpay"]))
    orphan.refresh_from_db()
    assert orphan.status == "failed" and "server restarted" in orphan.error_message
    assert page.context["active_run"]["run"] == fresh.pk, "a recent run is still followed"
    Run.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    assert services.runs_expire_stale(learner=learner) == 1
    assert logged_in.get(reverse("workspace", args=["clearpay"])).context["active_run"] is None


def test_the_inspector_shows_each_fields_range_and_a_yes_no_parameter_as_a_checkbox(logged_in):
    body = logged_in.get(reverse("inspector", args=["clearpay"]), {"part": "queue", "node": "queue"},
                         HTTP_HX_REQUEST="true").content.decode()
    assert 'type="checkbox"' in body and "(0/1)" not in body
    assert "Allowed: 100 to " in body and "in steps of 100." in body
    # Every aria-describedby Django writes points at the help text's id, which the partial renders.
    for described in re.findall(r'aria-describedby="([^"]+)"', body):
        assert f'id="{described}"' in body, described


def test_scenario_values_read_in_the_learners_units():
    assert measure(117.2, "ms") == "117 ms"
    assert measure(1412.0, "ms") == "1.4 s"
    assert measure(502817.0, "ms") == "503 s"
    assert "e" not in measure(-502700.0, "ms")
    assert change(-502700.0, "ms") == "−503 s" and change(0.12, "%") == "+0.12 %" and change(None, "ms") == "—"


def test_the_estimate_shows_a_queue_absorbing_the_spike_as_healthy_and_an_overflowing_one_as_a_problem(
        logged_in, design_file):
    url = reverse("estimate", args=["clearpay"])
    body = logged_in.post(url, json.dumps(design_file("reference")), content_type="application/json").content.decode()
    assert 'data-testid="queue-holds"' in body and "overflows" not in body and "% full" in body
    small = logged_in.post(url, json.dumps(design_file("small-buffer")), content_type="application/json")
    assert 'data-testid="queue-holds"' not in small.content.decode()
