"""Verdicts on how long requests take and how busy parts get: accept latency, completion latency, peak
utilization."""

from __future__ import annotations

from kata.format import count_of, duration, percent
from kata.grading.facts import SeedFacts, Verdict, compare, knobs
from kata.palette import ScenarioSpec


def _timeouts(seed: SeedFacts, node: str | None, source: dict) -> str:
    """"; 12 <nouns> gave up after 2.0 s without an answer", or ""."""
    gave_up = source.get("timeouts", 0)
    traffic = seed.traffic(node)
    if not (gave_up and traffic and traffic.deadline_ms):
        return ""
    return (f"; {count_of(gave_up, seed.nouns(node, 1), seed.nouns(node, 2))} gave up after "
            f"{duration(traffic.deadline_ms / 1000)} without an answer")


def _slow_accept(seed: SeedFacts, node: str | None, path: list[str], headline: str, timeouts: str,
                 slowest: tuple[str, float] | None) -> tuple[str, str]:
    """(explanation, next step) of an accept latency over its limit, from what the caller waits for."""
    external = next((name for name in path if name in seed.externals()), None)
    blocking = seed.design.waiting_queue(node) if node else None
    if external:
        waited = f"{seed.label(external)} (p99 {duration(seed.stations[external]['sojourn'].get('p99') or 0)})"
    if external and blocking:
        return (f"{headline}: {seed.label(blocking)} does not acknowledge, so the caller waits through it for "
                f"{waited}{timeouts}.",
                f"Set {seed.label(blocking)}'s acknowledges to 1, so the caller is answered once the write is done.")
    if external:
        return (f"{headline}: the caller waits for {waited} on its synchronous path{timeouts}.",
                f"Put an acknowledging queue in front of {seed.label(external)}, so the caller is answered once the "
                f"request is written and the rest happens behind the queue.")
    hot = seed.hottest(path)
    if hot and hot[1] >= 0.8:
        hot_node = seed.design.node(hot[0])
        return (f"{headline}: {seed.label(hot[0])} peaked at {percent(hot[1] * 100)} busy, so requests queue in "
                f"front of it{timeouts}.",
                f"Raise {seed.label(hot[0])}'s {knobs(hot_node, 'instances', 'cores', 'concurrency')} until its peak "
                f"stays under 80 %.")
    culprit = f"{seed.label(slowest[0])} (p99 {duration(slowest[1])})" if slowest else "the path"
    return (f"{headline}; the slowest part the caller waits for is {culprit}{timeouts}.",
            "Move work behind an acknowledging queue, or remove hops from the synchronous path.")


def accept_p99(seed: SeedFacts, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    p99_s = source.get("accept", {}).get("p99") or 0.0
    p99 = p99_s * 1000
    path = seed.design.sync_path(node) if node else []
    waits = sorted(
        ((name, seed.stations[name]["sojourn"].get("p99") or 0.0) for name in path if name in seed.stations),
        key=lambda item: -item[1],
    )
    slowest = waits[0] if waits else None
    limit = duration(threshold / 1000)
    if compare(p99, scenario.comparator, threshold):
        detail = f"p99 accept latency {duration(p99_s)} is within {limit}"
        if slowest:
            detail += (f"; the slowest part the caller waits for is {seed.label(slowest[0])} "
                       f"(p99 {duration(slowest[1])})")
        return Verdict(p99, True, detail + ".", "Keep the synchronous path this short as you change the rest.")
    headline = f"p99 accept latency {duration(p99_s)} > {limit}"
    text, step = _slow_accept(seed, node, path, headline, _timeouts(seed, node, source), slowest)
    return Verdict(p99, False, text, step)


def settle_p99(seed: SeedFacts, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    summary = source.get("settle") if source.get("settle", {}).get("count") else source.get("sojourn", {})
    p99_s = summary.get("p99") or 0.0
    p99 = p99_s * 1000
    passed = compare(p99, scenario.comparator, threshold)
    hot = seed.hottest(seed.reachable(node))
    cause = f"; busiest part: {seed.label(hot[0])} at {percent(hot[1] * 100)} peak utilization" if hot else ""
    step = "Nothing to fix here." if passed else (
        f"Raise {seed.label(hot[0])}'s {knobs(seed.design.node(hot[0]), 'instances', 'cores')} or take load off it."
        if hot else "Shorten the path.")
    sign = "≤" if passed else ">"
    return Verdict(p99, passed, f"p99 latency {duration(p99_s)} {sign} {duration(threshold / 1000)}{cause}.", step)


def peak_utilization(seed: SeedFacts, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    hot = seed.hottest(seed.design.reachable(node) if node else list(seed.stations))
    if hot is None:
        return Verdict(0.0, True, "No part carries load.", "")
    value = 100 * hot[1]
    passed = compare(value, scenario.comparator, threshold)
    text = f"{seed.label(hot[0])} is the busiest part at {percent(value)} peak utilization"
    parameters = knobs(seed.design.node(hot[0]), "instances", "cores")
    step = ("Nothing to fix here." if passed
            else f"Raise {seed.label(hot[0])}'s {parameters}, or put a cache in front of it.")
    return Verdict(value, passed, text + ("." if passed else f", above {percent(threshold)}."), step)
