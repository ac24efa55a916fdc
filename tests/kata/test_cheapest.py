"""The cheapest-design search walks a passing design down to the cheapest that still passes, and says so."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from kata.cheapest import SearchError, cheapest_search
from kata.models import Kata, PartParameter, PartType, Scenario, TrafficSource
from kata.palette import Palette


@pytest.fixture
def one_service(db):
    """100 requests/s of 10 ms each on instances of one server: 2 instances are 50 % busy, 1 is saturated."""
    kata = Kata.objects.create(slug="one-service", title="One service", summary="Size one tier.", budget_per_hour=1,
                               drain_seconds=10, reference_design={
                                   "nodes": [{"id": "u", "part": "users"},
                                             {"id": "s", "part": "svc", "params": {"instances": 5}}],
                                   "edges": [{"source": "u", "target": "s"}]})
    users = PartType.objects.create(kata=kata, key="users", name="Users", role="source", required=True,
                                    max_per_design=1)
    svc = PartType.objects.create(kata=kata, key="svc", name="Service", role="service", unit_cost_per_hour=0.1,
                                  service_distribution="exponential", service_mean_ms=10, base_error=0)
    PartParameter.objects.create(part=svc, name="instances", default=1, minimum=1, maximum=6)
    PartParameter.objects.create(part=svc, name="concurrency", default=1, minimum=1, maximum=1, learner_editable=False)
    TrafficSource.objects.create(kata=kata, part=users, base_rate=100, warmup_seconds=10, hold_seconds=40,
                                 cooldown_seconds=10)
    Scenario.objects.create(kata=kata, order=1, title="Headroom", metric="peak_utilization_pct", comparator="le",
                            threshold=80)
    return kata


def test_search_stops_at_the_cheapest_passing_size(one_service):
    palette = Palette.from_kata(one_service)
    steps = []
    found = cheapest_search(palette=palette, document=one_service.reference_design, seeds=[1, 2],
                            progress=steps.append, parallel=False)
    assert found.start_cost == pytest.approx(0.5)
    assert found.cost == pytest.approx(0.2), "two instances pass, one saturates"
    assert [n["params"]["instances"] for n in found.document["nodes"] if n["id"] == "s"] == [2]
    assert steps[-1].passed is False and steps[-1].failed == (1,), "the cut to one instance was tried and failed"
    assert found.evaluations == len(steps) + 1


def test_search_refuses_a_starting_design_that_fails(one_service):
    palette = Palette.from_kata(one_service)
    failing = {"nodes": [{"id": "u", "part": "users"}, {"id": "s", "part": "svc", "params": {"instances": 1}}],
               "edges": [{"source": "u", "target": "s"}]}
    with pytest.raises(SearchError, match="the starting design does not pass"):
        cheapest_search(palette=palette, document=failing, seeds=[1], parallel=False)


def test_command_prints_progress_and_saves_the_cost_the_grade_then_quotes(one_service, capsys):
    call_command("cheapest", "--kata", "one-service", "--seeds", "1", "--save")
    out, err = capsys.readouterr()
    assert "Searching on seeds 1" in err and "passes" in err
    assert "costs $0.20/h (started at $0.50/h), 20 % of the $1.00/h budget" in out
    one_service.refresh_from_db()
    assert float(one_service.cheapest_cost_per_hour) == 0.2
    assert Palette.from_kata(one_service).cheapest_cost_per_hour == 0.2
