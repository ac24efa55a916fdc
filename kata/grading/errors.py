"""Verdicts on errors: the share of requests that met one, and whether failed external calls are recovered."""

from __future__ import annotations

from typing import Any

from kata.format import count_of, join_and, percent
from kata.grading.facts import SeedFacts, Verdict, compare, knobs
from kata.palette import ScenarioSpec


def _headline(seed: SeedFacts, node: str | None, source: dict[str, Any], rate: float) -> str:
    one, many = seed.nouns(node, 1), seed.nouns(node, 2)
    met = source.get("met_error", 0)
    headline = f"Error rate {percent(rate)}: {met:,} of {max(1, source.get('arrivals', 0)):,} {many} met an error"
    extras = []
    if source.get("timeouts", 0):
        extras.append(f"{count_of(source['timeouts'], one, many)} timed out")
    recovered = met - source.get("outcomes", {}).get("error", 0) - source.get("outcomes", {}).get("failed", 0)
    if recovered > 0:
        extras.append(f"{recovered:,} of them recovered by a retry, which still counts")
    if extras:
        headline += f" ({'; '.join(extras)})"
    return headline


def _culprits(seed: SeedFacts, reachable: list[str]) -> list[tuple[str, int]]:
    """Parts by their failed calls, most first. A full queue loses requests (the dropped scenario's business);
    here only failed calls and failed writes count."""
    calls = {name: (seed.stations[name]["errors"] if seed.specs.get(name, {}).get("kind") == "buffer"
                    else seed.failed_calls(name)) for name in reachable if name in seed.stations}
    return sorted(((name, n) for name, n in calls.items() if n > 0), key=lambda item: -item[1])


def _cause(seed: SeedFacts, culprits: list[tuple[str, int]]) -> str:
    if not culprits:
        return "no part on the path failed a call"
    name, calls = culprits[0]
    station = seed.stations[name]
    share = 100 * calls / max(1, station["arrivals"])
    busy = ("" if seed.specs.get(name, {}).get("kind") == "buffer"
            else f", at {percent(seed.peak.get(name, 0.0) * 100)} peak utilization")
    cause = f"the most failed calls were at {seed.label(name)}: {calls:,} ({percent(share)} of its calls{busy})"
    if station.get("kind") != "buffer" and station.get("rejected", 0) > station.get("errors", 0):
        cause += (f"; {station['rejected']:,} of them refused because all its "
                  f"{seed.specs.get(name, {}).get('capacity', 0):,} slots were taken")
    return cause


def _external_step(seed: SeedFacts, target: str, sync: list[str]) -> str:
    if target in sync:
        return (f"Move {seed.label(target)} behind an acknowledging queue: the spike then waits in the queue, "
                f"and the slots of the workers draining it decide how busy {seed.label(target)} gets.")
    callers = [seed.design.node(c) for c in seed.design.predecessors(target)]
    slots = sum(seed.compiled.stations[c.id].slots or 0 for c in callers if c.id in seed.compiled.stations)
    names = join_and([c.label for c in callers]) or "its callers"
    return (f"Lower the slots of {names} (instances × concurrency, {slots} now) so {seed.label(target)} "
            f"stays under 80 % at the peak: its callers are the only thing that holds it there, and "
            f"retries can't undo a failed call.")


def _error_step(seed: SeedFacts, node: str | None, source: dict[str, Any], target: str | None) -> str:
    """One next thing to try against the errors, for the part most responsible (`target`)."""
    many = seed.nouns(node, 2)
    sync = seed.design.sync_path(node) if node else []
    refused = target is not None and seed.stations[target].get("rejected", 0) > seed.stations[target].get("errors", 0) \
        and seed.specs.get(target, {}).get("kind") != "buffer"
    if source.get("timeouts", 0) > source.get("met_error", 0) / 2:
        blocking = seed.design.waiting_queue(node) if node else None
        return (f"Most of these {many} gave up waiting: set {seed.label(blocking)}'s acknowledges to 1, so the caller "
                f"is answered once the write is done." if blocking else
                f"Most of these {many} gave up waiting: answer the caller before the slow part, at an acknowledging "
                f"queue in front of it.")
    if refused and target is not None:
        slots = knobs(seed.design.node(target), 'instances', 'cores', 'concurrency')
        return (f"Give {seed.label(target)} more slots ({slots}): "
                f"a request that finds every slot taken is refused, an error.")
    if target is None:
        return "Errors compound hop by hop: take parts off the path."
    if target in seed.externals():
        return _external_step(seed, target, sync)
    if seed.peak.get(target, 0.0) > 0.8:
        return (f"Raise {seed.label(target)}'s {knobs(seed.design.node(target), 'instances', 'cores')} until its "
                f"peak stays under 80 %.")
    return "Errors compound hop by hop: every part on the path takes a share of the budget; take hops off it."


def error_rate(seed: SeedFacts, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    rate = 100 * source.get("met_error", 0) / max(1, source.get("arrivals", 0))
    below = compare(rate, scenario.comparator, threshold)
    reachable = seed.reachable(node)
    hot = [(name, seed.peak.get(name, 0.0)) for name in reachable
           if name in seed.stations and seed.design.node(name).part.error_threshold is not None
           and seed.peak.get(name, 0.0) > (seed.design.node(name).part.error_threshold or 1.0)]
    hot.sort(key=lambda item: -item[1])
    over = bool(scenario.require_headroom and hot)
    culprits = _culprits(seed, reachable)
    headline, cause = _headline(seed, node, source, rate), _cause(seed, culprits)
    if below and not over:
        return Verdict(rate, True, f"{headline}, under the {threshold:g} % limit; {cause}.",
                       "Keep every part on the path under 80 % as you tune the rest.")
    sentences = [headline + (f", at or above the {threshold:g} % limit." if not below
                             else f", under the {threshold:g} % limit, but")]
    if over:
        sentences.append(join_and([f"{seed.label(n)} ran at {percent(u * 100)} busy at the peak, above its "
                                   f"{percent((seed.design.node(n).part.error_threshold or 0) * 100)} error threshold "
                                   f"({seed.failed_calls(n):,} failed calls)" for n, u in hot]) + ".")
    if not over or culprits[0][0] != hot[0][0]:
        sentences.append(cause[0].upper() + cause[1:] + ".")
    target = hot[0][0] if hot else (culprits[0][0] if culprits else None)
    return Verdict(rate, False, " ".join(sentences), _error_step(seed, node, source, target))


def _unqueued_verdict(seed: SeedFacts, external: str, unqueued: list[str]) -> Verdict:
    label, names = seed.label(external), join_and([seed.label(c) for c in unqueued])
    return Verdict(
        0.0, False,
        f"{label} is called by {names}, which {'takes' if len(unqueued) == 1 else 'take'} requests straight "
        f"from a part that is not a queue: a failed call has nowhere to go back to "
        f"({seed.failed_calls(external):,} failed calls).",
        f"Put a queue with retries directly in front of the workers that call {label}, and let only them call it.")


def _silent_verdict(seed: SeedFacts, node: str | None, external: str, silent: list[str]) -> Verdict:
    label = seed.label(external)
    others = [q for q in seed.design.reachable(node) if seed.retries(q)] if node else []
    aside = (f"; the retry on {join_and([seed.label(q) for q in others])} never sees a failure of "
             f"{label}, because the callers of {label} take their work from {seed.label(silent[0])}"
             if others else "")
    return Verdict(
        0.0, False,
        f"{seed.label(silent[0])} feeds the callers of {label} but does not retry: {seed.failed_calls(external):,} "
        f"failed calls of {label} surfaced, none went back for another attempt{aside}.",
        f"Set {seed.label(silent[0])}'s max_attempts to 3 or more, with a backoff.")


def _recovered_verdict(seed: SeedFacts, external: str, feeding: list[str], scenario: ScenarioSpec,
                       threshold: float) -> Verdict:
    label, errors = seed.label(external), seed.failed_calls(external)
    station = seed.stations.get(external, {})
    sent_back, ran_out = station.get("recovered", 0), station.get("exhausted", 0)
    share = 100.0 if errors == 0 else 100 * sent_back / errors
    passed = compare(share, scenario.comparator, threshold)
    queues = join_and([seed.label(q) for q in feeding])
    detail = f"{queues} feeds the callers of {label} and retries with backoff; "
    if not errors:
        detail += f"{label} failed no call in this run."
    else:
        detail += f"{sent_back:,} of {errors:,} failed calls went back to it for another attempt ({percent(share)})"
        detail += f", {ran_out:,} ran out of attempts." if ran_out else "."
    step = "Nothing to fix here." if passed else (
        f"{label} failed too often for the attempts allowed: keep it under 80 % busy, then raise "
        f"max_attempts on {queues}.")
    return Verdict(share, passed, detail, step)


def _recovery_at(seed: SeedFacts, node: str | None, external: str, scenario: ScenarioSpec,
                 threshold: float) -> Verdict:
    design = seed.design
    callers = design.predecessors(external)
    unqueued = [c for c in callers
                if not design.predecessors(c)
                or any(design.node(p).part.role != "queue" for p in design.predecessors(c))]
    if unqueued:
        return _unqueued_verdict(seed, external, unqueued)
    feeding = sorted({p for c in callers for p in design.predecessors(c)})
    silent = [q for q in feeding if not seed.retries(q)]
    if silent:
        return _silent_verdict(seed, node, external, silent)
    return _recovered_verdict(seed, external, feeding, scenario, threshold)


def recovery(seed: SeedFacts, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    externals = seed.externals(seed.design.reachable(node) if node else None)
    if not externals:
        return Verdict(0.0, False, "Nothing on the path calls an external part, so nothing is recovered next to one.",
                       "Connect the external part the kata is about.")
    worst: Verdict | None = None
    for external in externals:
        verdict = _recovery_at(seed, node, external, scenario, threshold)
        if worst is None or verdict.value < worst.value:
            worst = verdict
    assert worst is not None
    return worst
