"""A run's request traces: recorded after the run from its own seeds (refused when the replay is not that run),
bounded, listed on the run's page, opened from a failing scenario, and shown only to the learner and graders."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from kata import services, traces
from kata.compiler import compile_document
from kata.models import RunTraces
from kata.runs import tracing
from kata.runs.execute import run_execute
from kata.runs.seeds import simulate_here
from kata.runs.tracing import trace_here, trace_in_pool
from kata.versions import palette_for_run
from simulator.bench import clearpay_spec
from tests.personas import PASSWORD

pytestmark = pytest.mark.django_db


_REPLAYS: dict[tuple[str, int, tuple[str, ...]], dict] = {}


def _trace_once(spec: dict, seed: int, sources: list[str]) -> dict:
    """`trace_here`, each (spec, seed) replayed once per test session: a replay is deterministic (the digest check
    in `run_traces_record` still compares every answer with its run), and on the pure engine it costs seconds."""
    key = (json.dumps(spec, sort_keys=True), seed, tuple(sources))
    if key not in _REPLAYS:
        _REPLAYS[key] = trace_here(spec, seed, sources)
    return _REPLAYS[key]


@pytest.fixture
def failing_run(clearpay, learner, design_file, settings):
    """ClearPay's design without a recovery buffer, run and graded with its traces recorded (as a worker does)."""
    settings.KATA_RUN_TRACES = True
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("no-recovery-buffer"))
    run_execute(run.pk, publish=lambda message: None, simulate=simulate_here, trace=_trace_once)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    return run


def _scenario(run, sid):
    return next(s for s in run.grade["scenarios"] if s["id"] == sid)


def test_a_run_keeps_bounded_traces_of_its_streamed_seed_and_its_failing_scenarios_worst_seeds(failing_run):
    record = RunTraces.objects.get(run=failing_run)
    assert record.status == "ready", record.error_message
    failing = {s["worst_seed"] for s in failing_run.grade["scenarios"] if not s["passed"]}
    assert record.seeds[0] == failing_run.seeds[0] and set(record.seeds) == {failing_run.seeds[0], *failing}
    caps = tracing.CAPS
    for seed in record.seeds:
        seeded = record.data[str(seed)]
        assert list(seeded["kept"]) == ["checkout"]  # the graded payments only, not the status reads
        kept = seeded["kept"]["checkout"]
        assert len(kept["slowest"]) == caps.slowest and len(kept["sample"]) == caps.sample
        assert all(len(kept[c]) <= caps.per_outcome for c in ("error", "failed", "dropped"))
        assert len(seeded["traces"]) <= caps.total
        assert all(len(t["hops"]) <= caps.hops for t in seeded["traces"].values())
    assert len(json.dumps(record.data)) < 80_000 * len(record.seeds)


def test_a_failing_scenario_links_to_one_payment_that_shows_its_failure(client, failing_run):
    client.login(username="learner", password=PASSWORD)
    grade = client.get(reverse("run_grade", args=[failing_run.pk])).content.decode()
    assert 'data-testid="scenario-trace-2"' in grade and 'data-testid="scenario-trace-1"' not in grade  # 1 passes
    response = client.get(reverse("scenario_trace", args=[failing_run.pk, 2]))
    assert response.status_code == 302
    page = client.get(response.url)
    assert page.status_code == 200
    trace = page.context["trace"]
    # "No dropped payments" fails because payments were lost after acknowledgement: the one shown was.
    assert trace["outcome"] in ("failed", "dropped") and trace["accept"] is not None
    assert trace["source"] == "checkout"
    html = page.content.decode()
    assert 'data-figure="waterfall"' in html and "diagram__node--error" in html
    failed_parts = {h["station"] for h in trace["hops"] if h["result"] != "ok"}
    assert any(f'diagram__node--error" data-node="{p}"' in html for p in failed_parts)
    figure = page.context["figures"]["waterfall"]
    assert sum(len(bar["y"]) for bar in figure["data"] if bar["name"] != "retry backoff") >= len(trace["hops"])


def test_the_run_page_lists_the_slowest_payments_and_the_failed_ones(client, failing_run):
    client.login(username="learner", password=PASSWORD)
    html = client.get(reverse("run_traces", args=[failing_run.pk])).content.decode()
    assert "20 slowest payments" in html
    assert 'data-testid="traces-failed"' in html or 'data-testid="traces-dropped"' in html
    assert html.count('data-testid="trace-link"') >= 40


def test_traces_are_the_learners_and_the_graders_only(client, failing_run, other_learner, grader):
    record = RunTraces.objects.get(run=failing_run)
    number = record.data[str(record.seeds[0])]["kept"]["checkout"]["slowest"][0]
    detail = reverse("trace_detail", args=[failing_run.pk, record.seeds[0], number])
    client.login(username="other-learner", password=PASSWORD)
    others = [reverse("run_traces", args=[failing_run.pk]), reverse("scenario_trace", args=[failing_run.pk, 2])]
    for url in (detail, *others):
        assert client.get(url).status_code == 404
    client.login(username="grader", password=PASSWORD)
    assert client.get(detail).status_code == 200


def test_a_replay_that_is_not_the_run_is_refused(failing_run):
    """Traces from a replay of another seed would be of another run: the digest check refuses them."""
    def another_seed(spec, seed, sources):
        return trace_here(spec, seed + 100, sources)

    record = traces.run_traces_record(run_id=failing_run.pk, compiled=_compiled(failing_run),
                                      results={int(k): v for k, v in failing_run.results.items()},
                                      grade=failing_run.grade, trace=another_seed)
    assert record.status == "failed" and "other results than the run" in record.error_message
    assert record.data == {}


def _compiled(run):
    return compile_document(run.attempt.design, palette_for_run(run))


def test_a_seed_traced_in_the_pool_is_the_one_traced_here():
    spec = clearpay_spec(duration=40.0, status=True)
    assert trace_in_pool(spec, 4, ["checkout"]) == trace_here(spec, 4, ["checkout"])


def test_scenario_picks_follow_the_metric():
    data = {"2": {"kept": {"pay": {"slow_accept": [5], "slowest": [6], "dropped": [], "failed": [7], "error": [],
                                   "recovered": [8], "sample": []}}, "traces": {}},
            "1": {"kept": {"pay": {"slow_accept": [1], "slowest": [2], "dropped": [3], "failed": [], "error": [],
                                   "recovered": [], "sample": []}}, "traces": {}}}
    assert traces.scenario_trace(data, {"metric": "accept_p99_ms", "worst_seed": 2}) == (2, 5)
    assert traces.scenario_trace(data, {"metric": "dropped", "worst_seed": 2}) == (2, 7)  # failed after ack
    assert traces.scenario_trace(data, {"metric": "dropped", "worst_seed": 1}) == (1, 3)
    assert traces.scenario_trace(data, {"metric": "error_rate_pct", "worst_seed": 1}) == (2, 7)  # none on seed 1
    data["2"]["kept"]["pay"]["failed"] = []
    assert traces.scenario_trace(data, {"metric": "error_rate_pct", "worst_seed": 2}) == (2, 8)  # a recovered one
    assert traces.scenario_trace(data, {"metric": "peak_cost", "worst_seed": 1}) is None
    # Among the kept ones, one that failed at an external part when asked (hops as stored: [station, …, result, …]).
    data["2"]["kept"]["pay"]["failed"] = [7, 9]
    data["2"]["traces"] = {"7": {"hops": [["db", 0, 0, 1, "error", 1, None]]},
                           "9": {"hops": [["gw", 0, 0, 1, "timeout", 1, None]]}}
    assert traces.scenario_trace(data, {"metric": "dropped", "worst_seed": 2}) == (2, 7)
    assert traces.scenario_trace(data, {"metric": "dropped", "worst_seed": 2}, frozenset({"gw"})) == (2, 9)


@pytest.fixture
def graded_without_traces(clearpay, learner, design_file):
    """A run with a failing scenario 2 in its grade, and no traces recorded (yet)."""
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("no-recovery-buffer"))
    run.status, run.grade = "succeeded", {"passed": 0, "total": 1, "seeds": [1], "scenarios": [
        {"id": 2, "title": "No dropped transactions", "metric": "dropped", "passed": False, "worst_seed": 1}]}
    run.save()
    return run


def test_a_scenarios_link_says_so_while_the_traces_are_being_recorded(client, graded_without_traces):
    client.login(username="learner", password=PASSWORD)
    url = reverse("scenario_trace", args=[graded_without_traces.pk, 2])
    assert "kept no traces" in client.get(url).content.decode()
    record = RunTraces.objects.create(run=graded_without_traces, seeds=[1])
    page = client.get(url).content.decode()
    assert "still being recorded" in page and 'http-equiv="refresh"' in page
    lists = client.get(reverse("run_traces", args=[graded_without_traces.pk])).content.decode()
    assert 'data-state="recording"' in lists and 'hx-trigger="load delay:2s"' in lists
    # A recording whose executor died is given up: the lists stop asking.
    RunTraces.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    lists = client.get(reverse("run_traces", args=[graded_without_traces.pk])).content.decode()
    assert "stopped before it ended" in lists and "hx-trigger" not in lists


def test_a_trace_that_is_not_kept_is_not_found(client, failing_run):
    client.login(username="learner", password=PASSWORD)
    assert client.get(reverse("trace_detail", args=[failing_run.pk, 1, 10**9])).status_code == 404
    assert client.get(reverse("trace_detail", args=[failing_run.pk, 99, 1])).status_code == 404
    assert client.get(reverse("scenario_trace", args=[failing_run.pk, 42])).status_code == 404


def test_a_what_if_runs_traces_are_of_the_run_with_its_incidents(clearpay, learner, design_file, settings):
    # The replay must simulate what the run simulated: without the brown-out its digest differs and is refused.
    settings.KATA_RUN_TRACES = True
    brownout = {"kind": "brownout", "part": "gateway", "start": 300, "end": 420, "latency_factor": 2, "error": 0.1}
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"),
                             what_if={"incidents": [brownout]})
    run_execute(run.pk, publish=lambda message: None, simulate=simulate_here)
    record = RunTraces.objects.get(run=run)
    assert record.status == "ready", record.error_message
    result = tracing.HOP_FIELDS.index("result")
    hops = [hop for t in record.data[str(run.seeds[0])]["traces"].values() for hop in t["hops"]]
    assert any(hop[result] != "ok" for hop in hops)  # the brown-out's errors are in the kept payments


def test_a_worker_records_a_graded_runs_traces_in_a_task_of_their_own(clearpay, learner, design_file, settings):
    # Production mode: the worker that graded the run queues its traces and is free for the next run; the task
    # replays from what the run stored, and the digest check proves those are the run's own results.
    from kata.tasks import run_traces

    settings.KATA_RUN_TRACES = True
    run = services.run_start(learner=learner, kata=clearpay, document=design_file("reference"))
    deferred: list[int] = []
    run_execute(run.pk, publish=lambda message: None, simulate=simulate_here, defer_traces=deferred.append)
    run.refresh_from_db()
    assert run.status == "succeeded" and deferred == [run.pk]
    assert not RunTraces.objects.filter(run=run).exists()
    run_traces(run.pk)  # the Celery task's body, in this process
    record = RunTraces.objects.get(run=run)
    assert record.status == "ready", record.error_message
    assert record.seeds == [run.seeds[0]] and record.data[str(run.seeds[0])]["traces"]
