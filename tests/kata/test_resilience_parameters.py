"""The resilience patterns as part parameters: ClearPay's queue offers retry jitter, a retry budget, a dead-letter
queue and a circuit breaker; off by default they compile to nothing, on they compile to the simulator's fields, and
none of them lets a design go around the brief. A kata whose part fails some calls after doing the work
(`errors_after_work`) can offer an idempotency key: without it, the duplicates fail "No dropped transactions"."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from django import forms

from kata.compiler import BUDGET_BURST, compile_design
from kata.design import design_validate
from kata.forms import PartParamsForm
from kata.palette import Palette, ParameterSpec
from kata.runs.seeds import design_grade
from simulator import build_network

pytestmark = pytest.mark.django_db

ALL_ON = {"retry_jitter": 1.0, "retry_budget": 0.2, "dead_letter": 1, "breaker_threshold": 0.5}


def _with_queue(document: dict[str, Any], **params: float) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for node in doc["nodes"]:
        if node["part"] == "queue":
            node["params"].update(params)
    return doc


def _queue(compiled) -> dict[str, Any]:
    return next(s for s in compiled.spec["stations"] if s["name"] == "queue")


def test_clearpays_queue_offers_the_patterns_off_by_default(clearpay_palette):
    queue = clearpay_palette.part("queue")
    assert {p.name: p.default for p in queue.parameters if p.name in ALL_ON} == dict.fromkeys(ALL_ON, 0)


def test_off_the_patterns_compile_to_nothing(clearpay_palette, design_file):
    plain = compile_design(design_validate(design_file("reference"), clearpay_palette), clearpay_palette)
    zeros = compile_design(design_validate(_with_queue(design_file("reference"), **dict.fromkeys(ALL_ON, 0)),
                                           clearpay_palette), clearpay_palette)
    assert plain.spec == zeros.spec
    assert not {"dead_letter", "idempotency_key", "breaker"} & set(_queue(plain))
    assert not {"jitter", "budget"} & set(_queue(plain)["retry"])


def test_on_the_patterns_compile_to_the_simulators_fields(clearpay_palette, design_file):
    compiled = compile_design(design_validate(_with_queue(design_file("reference"), **ALL_ON), clearpay_palette),
                              clearpay_palette)
    queue = _queue(compiled)
    assert queue["retry"]["jitter"] == 1.0
    assert queue["retry"]["budget"] == {"ratio": 0.2, "burst": BUDGET_BURST}
    assert queue["dead_letter"] == "queue-dlq" and "idempotency_key" not in queue
    assert queue["breaker"]["failure_rate"] == 0.5
    network = build_network(compiled.spec)
    assert network.stations[network.station_index("queue")].breaker is not None


def test_the_reference_with_every_pattern_on_still_passes(clearpay_palette, design_file):
    grade = design_grade(palette=clearpay_palette, document=_with_queue(design_file("reference"), **ALL_ON),
                         seeds=[1]).grade
    assert all(s.passed for s in grade.scenarios), {s.id: s.explanation for s in grade.scenarios}


def test_a_dead_letter_queue_does_not_make_lost_payments_pass(clearpay_palette, design_file):
    """Kept is not settled: the payments out of attempts are still lost (scenario 2), and the page says where."""
    grade = design_grade(palette=clearpay_palette,
                         document=_with_queue(design_file("peak-sized-settlement"), dead_letter=1), seeds=[1]).grade
    by_id = {s.id: s for s in grade.scenarios}
    assert not by_id[2].passed
    assert "dead-letter queue, which does not settle them" in by_id[2].explanation


def test_a_breaker_does_not_hide_the_gateways_errors(clearpay_palette, design_file):
    """Failing fast spares the gateway, not the payments: the peak-sized design still fails 2 and 3."""
    grade = design_grade(palette=clearpay_palette,
                         document=_with_queue(design_file("peak-sized-settlement"), breaker_threshold=0.05),
                         seeds=[1]).grade
    failed = {s.id for s in grade.scenarios if not s.passed}
    assert {2, 3} <= failed, {s.id: s.explanation for s in grade.scenarios}


def test_a_retry_budget_cannot_rescue_a_hot_gateway(clearpay_palette, design_file):
    grade = design_grade(palette=clearpay_palette,
                         document=_with_queue(design_file("hot-gateway-many-retries"), retry_budget=0.05,
                                              retry_jitter=1.0), seeds=[1]).grade
    failed = {s.id for s in grade.scenarios if not s.passed}
    assert {2, 3} <= failed, {s.id: s.explanation for s in grade.scenarios}


def _charging_gateway(palette: Palette) -> Palette:
    """ClearPay with a gateway that fails half its failing calls after the charge, and a queue offering a key."""
    key = ParameterSpec(name="idempotency_key", label="Idempotency key on retried calls", default=0, minimum=0,
                        maximum=1, step=1, learner_editable=True)
    parts = tuple(
        dataclasses.replace(p, errors_after_work=0.5) if p.key == "gateway"
        else dataclasses.replace(p, parameters=(*p.parameters, key)) if p.key == "queue" else p
        for p in palette.parts)
    return dataclasses.replace(palette, parts=parts)


def test_without_an_idempotency_key_duplicates_fail_no_dropped_transactions(clearpay_palette, design_file):
    """Concept: a retry after the gateway charged and then timed out charges again: settled twice is not settled
    once, so the reference fails scenario 2 until its queue sends an idempotency key."""
    palette = _charging_gateway(clearpay_palette)
    spec = compile_design(design_validate(design_file("reference"), palette), palette).spec
    assert next(s for s in spec["stations"] if s["name"] == "gateway")["errors_after_work"] == 0.5
    grade = design_grade(palette=palette, document=design_file("reference"), seeds=[1]).grade
    by_id = {s.id: s for s in grade.scenarios}
    assert not by_id[2].passed, by_id[2].explanation
    assert "were settled twice" in by_id[2].explanation and "after doing the work" in by_id[2].explanation
    assert "idempotency key" in by_id[2].next_step
    keyed = design_grade(palette=palette, document=_with_queue(design_file("reference"), idempotency_key=1),
                         seeds=[1]).grade
    assert all(s.passed for s in keyed.scenarios), {s.id: s.explanation for s in keyed.scenarios}



def test_the_inspector_shows_the_yes_no_patterns_as_checkboxes(clearpay_palette):
    form = PartParamsForm(part=clearpay_palette.part("queue"))
    assert isinstance(form.fields["dead_letter"], forms.BooleanField)
    assert isinstance(form.fields["breaker_threshold"], forms.FloatField)
    bound = PartParamsForm({"capacity": 5000, "acknowledges": "on", "max_attempts": 5, "backoff_ms": 500,
                            "retry_jitter": 0.5, "retry_budget": 0.1, "dead_letter": "on", "breaker_threshold": 0.3},
                           part=clearpay_palette.part("queue"))
    assert bound.is_valid(), bound.errors
    assert bound.params()["dead_letter"] == 1.0 and bound.params()["retry_jitter"] == 0.5


def _offering(palette: Palette, part: str, *names: str) -> Palette:
    """ClearPay whose `part` also offers `names` (0 = off, up to 5 s), as an instructor may in the admin."""
    extra = tuple(ParameterSpec(name=n, label=n, default=0, minimum=0, maximum=5000, step=10, learner_editable=True)
                  for n in names)
    return dataclasses.replace(palette, parts=tuple(
        dataclasses.replace(p, parameters=(*p.parameters, *extra)) if p.key == part else p for p in palette.parts))


def _with_node(document: dict[str, Any], node_id: str, **params: float) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    next(n for n in doc["nodes"] if n["id"] == node_id)["params"].update(params)
    return doc


def test_a_deadline_that_gives_up_on_slow_payments_does_not_make_them_acknowledged_fast(clearpay_palette,
                                                                                       design_file):
    """Concept: the accept sample holds only acknowledged payments, so a 280 ms deadline on an API that calls the
    gateway synchronously kept its p99 at 281 ms by answering 86 % of payments with an error. Over every payment
    the p99 is an unacknowledged one: scenario 1 fails, at the checkout's 2 s."""
    palette = _offering(clearpay_palette, "intent_api", "deadline_ms", "shed_wait_ms")
    grade = design_grade(palette=palette, document=_with_node(design_file("sync-gateway"), "api", deadline_ms=280),
                         seeds=[1]).grade
    fast = next(s for s in grade.scenarios if s.id == 1)
    assert not fast.passed and fast.value == 2000, fast.explanation
    assert "got an error instead of an acknowledgement" in fast.explanation
    assert "set its deadline_ms to 0" in fast.next_step


def test_a_part_that_refuses_payments_is_not_fast_acknowledgement(clearpay_palette, design_file):
    """The API with too few slots answers the 6.5 % it refuses at once, with an error: not an acknowledgement."""
    grade = design_grade(palette=clearpay_palette, document=design_file("api-too-few-slots"), seeds=[1]).grade
    fast = next(s for s in grade.scenarios if s.id == 1)
    assert not fast.passed and "the acknowledged ones alone had p99 112 ms" in fast.explanation
    assert fast.next_step.startswith("Let Payment-intent API (api) take every request")
