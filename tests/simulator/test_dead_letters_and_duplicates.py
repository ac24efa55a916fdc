"""A dead-letter queue for messages out of attempts, and duplicates of retried calls without an idempotency key.

References: with k attempts against a dependency that fails each call with probability p, the share dead-lettered
is p^k and equals the exhausted count exactly; with a share w of the errors after the work, the duplicates per
request have expectation w (p + ... + p^(k-1)) (each retry follows an error, after the work with probability w),
and none with an idempotency key."""

from __future__ import annotations

from typing import Any

import pytest

from simulator import Simulation, SpecError, build_network

from .replication import estimate

P, K, W = 0.3, 3, 0.4
R = 10


def _spec(**buffer: Any) -> dict[str, Any]:
    return {"arrival": {"rate": 50.0},
            "stations": [
                {"name": "q", "kind": "buffer", "servers": "inf", "acknowledge": True, "dead_letter": "pay-dlq",
                 "retry": {"max_attempts": K, "backoff": 0.05}, **buffer},
                {"name": "g", "servers": "inf", "service": {"dist": "exponential", "mean": 0.05},
                 "errors": {"base": P}, "errors_after_work": W}],
            "duration": 120.0, "drain": 5.0}


def _runs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for seed in range(1, R + 1):
        res = Simulation(build_network(spec), seed=seed).results()
        src = res.overall
        out.append({"res": res, "dead": src.dead_lettered / src.arrivals, "dups": src.duplicates / src.arrivals})
    return out


def test_the_dead_letter_queue_keeps_what_ran_out_of_attempts_p_to_the_k() -> None:
    """Concept: a message is dead-lettered iff all k attempts fail: probability p^k."""
    runs = _runs(_spec())
    est = estimate(runs, "dead")
    assert est.agrees_with(P**K), est.explain(P**K)
    for run in runs:
        res = run["res"]
        q, src = res.station("q"), res.overall
        assert q.dead_letters == src.dead_lettered == res.station("g").exhausted == src.outcomes["failed"]
        # kept, not settled: every dead-lettered payment is still a failure, and no settled one is in the queue
        assert src.outcomes["settled"] + src.outcomes["failed"] + src.unfinished == src.arrivals


def test_retries_without_an_idempotency_key_duplicate_work_done_before_the_error() -> None:
    """Concept: E[duplicates per request] = w x E[retries per request] = w (p + p^2) for k = 3."""
    runs = _runs(_spec())
    exact = W * sum(P**j for j in range(1, K))
    est = estimate(runs, "dups")
    assert est.agrees_with(exact), est.explain(exact)
    assert all(0 < r["res"].overall.duplicates < r["res"].overall.retries for r in runs)
    assert all(r["res"].station("g").duplicates == r["res"].overall.duplicates for r in runs)


@pytest.mark.parametrize("engine", ["pure", "fast"])
def test_an_idempotency_key_removes_every_duplicate_and_changes_nothing_else(engine: str) -> None:
    without = Simulation(build_network(_spec()), seed=3, engine=engine).results().to_dict()
    keyed = Simulation(build_network(_spec(idempotency_key=True)), seed=3, engine=engine).results().to_dict()
    assert without["overall"]["duplicates"] > 0 and "duplicates" not in keyed["overall"]
    for d in (without, keyed):
        d["overall"].pop("duplicates", None)
        for part in (*d["stations"], *d["sources"]):
            part.pop("duplicates", None)
    assert without == keyed


def test_without_the_patterns_results_have_no_new_keys() -> None:
    spec = _spec()
    del spec["stations"][0]["dead_letter"], spec["stations"][1]["errors_after_work"]
    d = Simulation(build_network(spec), seed=1).results().to_dict()
    assert not {"dead_lettered", "duplicates"} & set(d["overall"])
    assert not {"dead_letters", "duplicates"} & (set(d["stations"][0]) | set(d["stations"][1]))


@pytest.mark.parametrize(("where", "field", "value", "message"), [
    (0, "dead_letter", "", r"stations\[0\]\.dead_letter: must be a queue name"),
    (0, "idempotency_key", "yes", r"stations\[0\]\.idempotency_key: must be true or false"),
    (1, "dead_letter", "x", r"stations\[1\]\.dead_letter: only allowed on kind 'buffer'"),
    (0, "errors_after_work", 0.5, r"stations\[0\]\.errors_after_work: not allowed on a buffer"),
    (1, "errors_after_work", 1.5, r"stations\[1\]\.errors_after_work: must be <= 1"),
])
def test_bad_fields_are_named(where: int, field: str, value: Any, message: str) -> None:
    spec = _spec()
    spec["stations"][where][field] = value
    with pytest.raises(SpecError, match=message):
        build_network(spec)


def test_errors_after_work_needs_errors() -> None:
    spec = _spec()
    del spec["stations"][1]["errors"]
    with pytest.raises(SpecError, match=r"stations\[1\]\.errors_after_work: needs errors"):
        build_network(spec)


def test_the_cli_metrics_carry_the_patterns_counts_only_where_a_station_has_the_pattern() -> None:
    spec = _spec()
    spec.pop("duration"), spec.pop("drain")
    metrics = Simulation(build_network(spec), seed=1, requests=4_000).metrics()
    assert metrics["q.dead_letters"] > 0 and metrics["g.duplicates"] > 0
    assert not {"g.dead_letters", "q.duplicates", "q.abandoned", "q.short_circuited", "q.budget_refused"} & set(metrics)
