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


# The percentile the accept scenario reads: more than 1 - ACCEPT_QUANTILE of the requests without an acknowledgement
# puts it among them.
ACCEPT_QUANTILE = 0.99


def _never_acknowledged(seed: SeedFacts, node: str | None, source: dict, threshold: float,
                        answered_p99_s: float) -> Verdict | None:
    """The verdict when more than 1 % of the requests were answered with an error instead of an acknowledgement
    (refused by a full part, shed, abandoned at a part's deadline, a failed write before the queue): the simulator's
    accept sample holds only acknowledged requests (and those whose caller gave up, at the deadline), so its p99
    would be taken over the lucky ones. Over every request the p99 is then an unacknowledged one: counted at the
    caller's deadline, as a caller that gave up is. None when 1 % or fewer were."""
    arrivals = source.get("arrivals", 0)
    unanswered = source.get("outcomes", {}).get("error", 0) - source.get("timeouts", 0)
    if not arrivals or unanswered <= (1 - ACCEPT_QUANTILE) * arrivals:
        return None
    traffic = seed.traffic(node)
    deadline_ms = traffic.deadline_ms if traffic is not None and traffic.deadline_ms else None
    value = deadline_ms if deadline_ms is not None else max(threshold, answered_p99_s * 1000) + 1.0
    many = seed.nouns(node, 2)
    counted = f"counted at the {duration(deadline_ms / 1000)} deadline, " if deadline_ms is not None else ""
    reachable = seed.reachable(node)
    culprits = sorted(((name, seed.failed_calls(name) + seed.stations[name].get("abandoned", 0))
                       for name in seed.design.sync_path(node or "") if name in seed.stations and name in reachable),
                      key=lambda item: -item[1]) if node else []
    where = f"; the most failed before it at {seed.label(culprits[0][0])} ({culprits[0][1]:,} failed calls)" \
        if culprits and culprits[0][1] else ""
    share = 100 * unanswered / arrivals
    return Verdict(
        value, False,
        f"{count_of(unanswered, seed.nouns(node, 1), many)} ({percent(share)}) got an error instead of an "
        f"acknowledgement{where}: more than 1 in 100, so the p99 over all {many} is one that was never acknowledged "
        f"({counted}as a caller that gave up is); the acknowledged ones alone had p99 {duration(answered_p99_s)}.",
        _unacknowledged_step(seed, culprits[0][0] if culprits and culprits[0][1] else None))


def _unacknowledged_step(seed: SeedFacts, culprit: str | None) -> str:
    why = ("a part that refuses, sheds or gives up on requests before the acknowledgement answers fast only by not "
           "acknowledging them.")
    if culprit is None:
        return "Acknowledge every request: " + why
    if culprit in seed.externals():
        return (f"Put an acknowledging queue in front of {seed.label(culprit)}, so the caller is answered once the "
                f"request is written, and let nothing before it refuse or give up on requests: " + why)
    node = seed.design.node(culprit)
    cut = [name for name in ("deadline_ms", "shed_wait_ms") if node.param(name, 0)]
    off = f", and set its {' and '.join(cut)} to 0 (off)" if cut else ""
    return (f"Let {seed.label(culprit)} take every request "
            f"({knobs(node, 'instances', 'cores', 'concurrency')}{off}): " + why)


def accept_p99(seed: SeedFacts, scenario: ScenarioSpec, threshold: float) -> Verdict:
    node = seed.source_node(scenario.source)
    source = seed.sources.get(node or "", {})
    p99_s = source.get("accept", {}).get("p99") or 0.0
    p99 = p99_s * 1000
    # Only where the acknowledged ones alone would pass: a slow path is the lesson otherwise.
    unacknowledged = (_never_acknowledged(seed, node, source, threshold, p99_s)
                      if compare(p99, scenario.comparator, threshold) else None)
    if unacknowledged is not None:
        return unacknowledged
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
