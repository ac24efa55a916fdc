"""The verdict on acknowledged requests that were lost, each cause counted and blamed on the part responsible."""

from __future__ import annotations

from typing import Any

from kata.format import count_of, join_and, percent
from kata.grading.facts import SeedFacts, Verdict, compare, knobs
from kata.palette import ScenarioSpec

Cause = tuple[int, str, str]  # (how many, what happened, what to try)


class _Lost:
    """One source's lost requests on one seed, and the words for them."""

    def __init__(self, seed: SeedFacts, node: str | None) -> None:
        self.seed, self.node = seed, node
        self.source: dict[str, Any] = seed.sources.get(node or "", {})
        self.one, self.many = seed.nouns(node, 1), seed.nouns(node, 2)
        self.reachable = seed.reachable(node)
        self.cool = seed.cool_clause(self.reachable)

    def leaks(self) -> list[Cause]:
        """Left the design without completing the path (a cache, a split, another exit)."""
        seed, causes = self.seed, []
        for station, by_step in self.source.get("leaks", {}).items():
            for step, count in enumerate(by_step):
                if not count:
                    continue
                missing = seed.step_labels(self.node, step)
                causes.append((count, f"{count_of(count, self.one, self.many)} left through {seed.label(station)} "
                                      f"without reaching {missing}",
                               f"Make every path from {seed.source_label(self.node)} pass {missing}: remove the "
                               f"connection that lets {self.many} leave through {seed.label(station)}."))
        return causes

    def full_queues(self) -> list[Cause]:
        """Rejected by a full queue after the acknowledgement."""
        seed, causes = self.seed, []
        for name in self.reachable:
            station = seed.stations.get(name, {})
            if station.get("kind") == "buffer" and station.get("rejected", 0) > 0:
                capacity = seed.specs.get(name, {}).get("capacity")
                causes.append((station["rejected"],
                               f"{seed.label(name)} was full {station['rejected']:,} times (capacity {capacity:,}; "
                               f"{station['max_queue']:,} waiting at the deepest)",
                               f"Raise {seed.label(name)}'s capacity above the spike's backlog (it reached "
                               f"{station['max_queue']:,}), or drain it faster{self.cool}."))
        return causes

    def failures(self) -> list[Cause]:
        """Failed for good after acknowledgement: blamed on the part whose call failed; where the queue holding them
        does not retry, one cause for that queue, its parts listed."""
        seed, causes = self.seed, []
        unretried: dict[str | None, list[tuple[str, int]]] = {}
        for name in self.reachable:
            count = seed.stations.get(name, {}).get("lost")
            if not count:
                continue
            queue = seed.holding_queue(name)
            if seed.specs.get(name, {}).get("kind") == "buffer" and seed.stations[name].get("short_circuited"):
                causes.append(self._failed_fast(name, count))
            elif queue is None or not seed.retries(queue):
                unretried.setdefault(queue, []).append((name, count))
            else:
                causes.append(self._out_of_attempts(name, queue, count))
        for queue, where in unretried.items():
            total = sum(c for _, c in where)
            at = join_and([f"{c:,} at {seed.label(n)}" for n, c in sorted(where, key=lambda w: -w[1])])
            holder = f"{seed.label(queue)}, which holds them, does not retry" if queue else "no queue holds them"
            what = f"{count_of(total, self.one, self.many)} failed after acknowledgement ({at}): {holder}"
            what += self._kept(queue)
            step = (f"Let {seed.label(queue)} retry failed calls: set its max_attempts to 3 or more, with a backoff."
                    if queue else f"Put a retrying queue in front of the parts that call {seed.label(where[0][0])}.")
            causes.append((total, what, step))
        return causes

    def _failed_fast(self, queue: str, count: int) -> Cause:
        """Failed at the queue itself: its circuit breaker failed them fast until they were out of attempts."""
        seed = self.seed
        station = seed.stations[queue]
        hot = [x for x in seed.externals(self.reachable) if seed.peak.get(x, 0.0) > 0.8]
        what = (f"{count_of(count, self.one, self.many)} ran out of attempts at {seed.label(queue)}, whose circuit "
                f"breaker opened {station.get('breaker_opened', 0):,} times and failed {station['short_circuited']:,} "
                f"takes fast{self._kept(queue)}")
        off = f"set {seed.label(queue)}'s breaker_threshold to 0, or "
        if hot:
            return count, what, (f"A breaker fails {self.many} faster; it settles none: {off}keep {seed.label(hot[0])} "
                                 f"under 80 % (it peaked at {percent(seed.peak[hot[0]] * 100)}) so it never opens.")
        return count, what, f"A breaker fails {self.many} faster; it settles none: {off}raise its threshold."

    def _out_of_attempts(self, name: str, queue: str, count: int) -> Cause:
        seed = self.seed
        attempts = seed.specs[queue]["retry"]["max_attempts"]
        refused = seed.stations.get(queue, {}).get("budget_refused", 0)
        what = (f"{count_of(count, self.one, self.many)} failed at {seed.label(name)} after all {attempts} attempts "
                f"that {seed.label(queue)} allows{self._kept(queue)}")
        if refused:
            what = (f"{count_of(count, self.one, self.many)} failed at {seed.label(name)} out of attempts: after the "
                    f"{attempts} {seed.label(queue)} allows, or when its retry budget refused a retry ({refused:,} "
                    f"refused){self._kept(queue)}")
        if refused and seed.peak.get(name, 0.0) <= 0.8:
            return count, what, (f"Raise {seed.label(queue)}'s retry_budget, or set it to 0 (no budget): a retry it "
                                 f"refuses is a lost {self.one}.")
        if seed.peak.get(name, 0.0) > 0.8:
            step = (f"{seed.label(name)} peaked at {percent(seed.peak[name] * 100)} busy: keep it under 80 % so "
                    f"fewer calls fail; more attempts would only hide the errors.")
        else:
            step = f"Raise {seed.label(queue)}'s max_attempts, with a backoff."
        return count, what, step

    def _kept(self, queue: str | None) -> str:
        """Where a queue keeps what ran out of attempts: in its dead-letter queue, which is not settling them (the
        kata forbids resubmitting them by hand, so a kept payment is still a lost one)."""
        if queue is None or not self.seed.specs.get(queue, {}).get("dead_letter"):
            return ""
        return (f"; they are kept in {self.seed.label(queue)}'s dead-letter queue, which does not settle them (no "
                f"one may resubmit them by hand)")

    def unfinished(self) -> list[Cause]:
        """Still unsettled when the run ended."""
        seed = self.seed
        unfinished = self.source.get("unfinished_acked", 0)
        if not unfinished:
            return []
        queues = [n for n in self.reachable if seed.stations.get(n, {}).get("kind") == "buffer"]
        deepest = max(queues, key=lambda n: seed.stations[n]["max_queue"], default=None)
        traffic = seed.traffic(self.node)
        rate = seed.drain_rate(deepest) if deepest else None
        what = f"{count_of(unfinished, self.one, self.many)} were still waiting when the run ended"
        step = f"Drain the backlog faster{self.cool}."
        if deepest and rate is not None and traffic is not None:
            what += (f": {seed.label(deepest)}'s consumers took about {rate:,.0f}/s, against "
                     f"{traffic.base_rate:g}/s of normal traffic after the spike")
            if rate < traffic.base_rate * 1.05:
                what += ", so the backlog never shrinks"
            extra, step = self._slow_drain(deepest, step)
            what += extra
        return [(unfinished, what, step)]

    def _slow_drain(self, deepest: str, step: str) -> tuple[str, str]:
        """(what else explains the slow drain, what to try) for the deepest queue's consumers."""
        seed = self.seed
        consumers = [seed.design.node(c) for c in seed.design.successors(deepest)]
        saturated = [x for x in seed.externals(self.reachable) if seed.peak.get(x, 0.0) > 0.8]
        if saturated:
            hot = saturated[0]
            noun = seed.design.node(hot).part.noun
            return (f", because {seed.label(hot)} ran at {percent(seed.peak[hot] * 100)} busy, where its failures and "
                    f"slowdown cut what it settles",
                    f"Lower the slots of {seed.label(consumers[0].id) if consumers else 'its callers'} so "
                    f"{seed.label(hot)} stays under 80 %: a saturated {noun} settles less, not more.")
        if consumers:
            return ("", f"Give {seed.label(consumers[0].id)} more slots "
                        f"({knobs(consumers[0], 'instances', 'cores', 'concurrency')}) "
                        f"so {seed.label(deepest)} drains before the run ends{self.cool}.")
        return "", step


    def duplicates(self) -> list[Cause]:
        """Settled twice: a queue retried, without an idempotency key, a call that failed after the work was done."""
        seed, causes = self.seed, []
        for name in self.reachable:
            count = seed.stations.get(name, {}).get("duplicates", 0)
            if not count:
                continue
            queue = seed.holding_queue(name)
            causes.append((count, f"{seed.label(name)} failed {count_of(count, 'call', 'calls')} after doing the "
                                  f"work, and {seed.label(queue) if queue else 'its caller'} retried "
                                  f"{'it' if count == 1 else 'them'} without an idempotency key",
                           f"Give {seed.label(queue) if queue else 'the retrying queue'} an idempotency key, so a "
                           f"retry after a late failure is not carried out again."))
        return causes


def dropped(seed: SeedFacts, scenario: ScenarioSpec, threshold: float) -> Verdict:
    """Lost acknowledged requests; a request carried out twice (a duplicate) counts against the scenario too: every
    acknowledged payment is settled, once."""
    node = seed.source_node(scenario.source)
    lost_of = _Lost(seed, node)
    outcomes = lost_of.source.get("outcomes", {})
    lost = outcomes.get("failed", 0) + outcomes.get("dropped", 0)
    twice = lost_of.source.get("duplicates", 0)
    if compare(lost + twice, scenario.comparator, threshold):
        return Verdict(lost, True, f"All {outcomes.get('completed', 0):,} acknowledged {lost_of.many} were "
                                   f"completed; none was lost.", "Nothing to fix here.")
    causes = lost_of.leaks() + lost_of.full_queues() + lost_of.failures() + lost_of.unfinished() \
        + lost_of.duplicates()
    causes.sort(key=lambda c: -c[0])
    one, many = lost_of.one, lost_of.many
    text = f"{count_of(lost, 'acknowledged ' + one, 'acknowledged ' + many)} {'was' if lost == 1 else 'were'} lost"
    if twice:
        text = (f"No acknowledged {one} was lost" if not lost else text) \
            + f", but {count_of(twice, one, many)} {'was' if twice == 1 else 'were'} settled twice"
    if causes:
        text += ": " + "; ".join(c[1] for c in causes)
    next_step = causes[0][2] if causes else "Check where requests leave the design."
    return Verdict(lost + twice, False, text + ".", next_step)
