"""Instructors and graders see what learners do on a kata: attempts, learners, pass rate per scenario, the most
common failing explanations and the median runs to a first full pass, with a chart."""

from __future__ import annotations

import json

from django.urls import reverse

from kata.insights import kata_insights, pass_rate_figure
from kata.models import Attempt, Run


def _grade(passes: list[bool], seconds: int = 2) -> dict:
    return {"passed": sum(passes), "total": len(passes), "seeds": [1, 2, 3], "scenarios": [
        {"id": i, "title": f"Scenario {i}", "passed": ok,
         "explanation": "" if ok else f"Seed {seconds}, the worst of 3: p99 accept latency {seconds}.{i} s > 300 ms"}
        for i, ok in enumerate(passes, start=1)]}


def _run(learner, kata, passes: list[bool], seconds: int = 2) -> Run:
    attempt = Attempt.objects.create(learner=learner, kata=kata, design={})
    grade = _grade(passes, seconds)
    return Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="succeeded", grade=grade,
                              passed=grade["passed"], total=grade["total"])


def test_the_numbers_count_every_graded_run(clearpay, learner, other_learner):
    _run(learner, clearpay, [False, True])
    _run(learner, clearpay, [False, True], seconds=3)
    _run(learner, clearpay, [True, True])
    _run(other_learner, clearpay, [True, False])
    Attempt.objects.create(learner=other_learner, kata=clearpay, design={})  # never run
    stats = kata_insights(kata=clearpay)
    assert (stats.attempts, stats.learners, stats.graded_runs) == (5, 2, 4)
    assert [(s.id, s.passed, s.graded) for s in stats.scenarios] == [(1, 2, 4), (2, 3, 4)]
    assert stats.learners_passed == 1 and stats.median_runs_to_pass == 3
    first = stats.failures[0]
    assert (first.scenario, first.count) == (1, 2), "the same failure whatever its numbers and seed"
    figure = pass_rate_figure(stats)
    assert figure["data"][0]["y"] == [50.0, 75.0] and figure["data"][0]["text"] == ["2/4", "3/4"]


def test_the_page_shows_the_numbers_and_embeds_the_chart(client, clearpay, learner, grader, instructor):
    _run(learner, clearpay, [False, True])
    for person in (grader, instructor):
        client.force_login(person)
        response = client.get(reverse("kata_insights", args=["clearpay"]))
        body = response.content.decode()
        assert response.status_code == 200
        assert 'data-testid="insights-chart"' in body and "plotly.min.js" in body
        assert json.loads(response.context["figures"]["pass_rate"]["data"][0]["y"].__repr__()) == [0.0, 100.0]
        assert "p99 accept latency 2.1 s &gt; 300 ms" in body
        assert "— (nobody has passed yet)" in body


def test_a_kata_nobody_ran_says_so(client, clearpay, grader):
    client.force_login(grader)
    body = client.get(reverse("kata_insights", args=["clearpay"])).content.decode()
    assert 'data-testid="insights-empty"' in body and "plotly" not in body
