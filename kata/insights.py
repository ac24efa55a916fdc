"""What learners do on a kata, for its instructors and graders: attempts, learners, pass rate per scenario, the
most common failing explanations, and how many runs a learner needs to a first full pass."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from kata.models import Kata, Run
from kata.selectors import can_review

# Numbers (and the seed a verdict names) differ from run to run; without them, one failure reads as one text.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def can_see_insights(user: AbstractBaseUser) -> bool:
    return bool(user.is_authenticated and (can_review(user) or user.has_perm("kata.change_kata")))


@dataclass(frozen=True)
class ScenarioRate:
    id: int
    title: str
    passed: int
    graded: int

    @property
    def percent(self) -> float:
        return 100 * self.passed / self.graded if self.graded else 0.0


@dataclass(frozen=True)
class CommonFailure:
    scenario: int
    title: str
    example: str  # one explanation as a learner read it
    count: int


@dataclass(frozen=True)
class KataInsights:
    attempts: int
    learners: int
    graded_runs: int
    learners_passed: int
    median_runs_to_pass: float | None
    scenarios: list[ScenarioRate] = field(default_factory=list)
    failures: list[CommonFailure] = field(default_factory=list)


def kata_insights(*, kata: Kata, failures_shown: int = 8) -> KataInsights:
    """Counted over every graded run of the kata (the machine's verdicts, graders' overrides aside)."""
    runs = (Run.objects.filter(attempt__kata=kata, status=Run.Status.SUCCEEDED, total__isnull=False)
            .exclude(grade={}).select_related("attempt").only("grade", "created_at", "attempt__learner_id")
            .order_by("created_at"))
    attempts = kata.attempts.count()
    learners = kata.attempts.values("learner").distinct().count()
    passed: Counter[int] = Counter()
    graded: Counter[int] = Counter()
    titles: dict[int, str] = {}
    failing: Counter[tuple[int, str]] = Counter()
    examples: dict[tuple[int, str], str] = {}
    runs_by_learner: dict[int, int] = defaultdict(int)
    first_pass: dict[int, int] = {}
    graded_runs = 0
    for run in runs.iterator():
        graded_runs += 1
        learner = run.attempt.learner_id
        runs_by_learner[learner] += 1
        scenarios = run.grade.get("scenarios", [])
        for s in scenarios:
            titles[s["id"]] = s["title"]
            graded[s["id"]] += 1
            if s["passed"]:
                passed[s["id"]] += 1
            else:
                key = (s["id"], _NUMBER.sub("#", s.get("explanation", "")))
                failing[key] += 1
                examples.setdefault(key, s.get("explanation", ""))
        if scenarios and all(s["passed"] for s in scenarios) and learner not in first_pass:
            first_pass[learner] = runs_by_learner[learner]
    rates = [ScenarioRate(id=i, title=titles[i], passed=passed[i], graded=graded[i]) for i in sorted(graded)]
    common = [CommonFailure(scenario=key[0], title=titles[key[0]], example=examples[key], count=n)
              for key, n in failing.most_common(failures_shown)]
    median = statistics.median(first_pass.values()) if first_pass else None
    return KataInsights(attempts=attempts, learners=learners, graded_runs=graded_runs,
                        learners_passed=len(first_pass), median_runs_to_pass=median, scenarios=rates,
                        failures=common)


def pass_rate_figure(insights: KataInsights) -> dict[str, Any]:
    """A bar per scenario: the share of graded runs that passed it."""
    labels = [f"{s.id}. {s.title}" for s in insights.scenarios]
    return {
        "data": [{"type": "bar", "x": labels, "y": [round(s.percent, 1) for s in insights.scenarios],
                  "text": [f"{s.passed}/{s.graded}" for s in insights.scenarios], "textposition": "auto",
                  "marker": {"color": "#1f6feb"}, "hovertemplate": "%{x}: %{y:.1f} %<extra></extra>"}],
        "layout": {"title": {"text": "Pass rate per scenario (graded runs)", "font": {"size": 14}},
                   "height": 300, "margin": {"l": 50, "r": 12, "t": 36, "b": 90},
                   "yaxis": {"range": [0, 100], "ticksuffix": " %"}, "paper_bgcolor": "rgba(0,0,0,0)",
                   "plot_bgcolor": "#fbfcfd"},
    }
