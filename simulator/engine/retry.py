"""A buffer's retry gate: the retry policy's jitter and retry budget, shared by both engines.

Both engines call `RetryGate.delay` at the same point of a failed visit (only for a policy with jitter or a budget;
a plain policy keeps its own `RetryPolicy.delay`), with the simulation's one `random.Random`, so the two engines
draw the same jitter and grant the same retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model import RetryPolicy

__all__ = ["RetryGate", "gate_for"]


class RetryGate:
    """Jitter and a token-bucket retry budget on a buffer's retries.

    Budget: the bucket starts full with `budget_burst` tokens; every first arrival at the buffer (any arrival that is
    not a retry's re-entry, admitted or rejected) deposits `budget_ratio` tokens, up to `budget_burst`; a retry takes
    one token, and is refused when fewer than one is left (the message is then out of attempts). So at any time
    retries granted <= budget_burst + budget_ratio x first arrivals. Deposits are added when a retry asks: with only
    deposits between two withdrawals, capping once at the end is the same as capping at each deposit.
    """

    __slots__ = ("policy", "rand", "jitter", "ratio", "burst", "tokens", "seen", "granted", "refused")

    def __init__(self, policy: RetryPolicy, rand: Callable[[], float]) -> None:
        self.policy = policy
        self.rand = rand
        self.jitter = policy.jitter
        self.ratio = policy.budget_ratio
        self.burst = policy.budget_burst
        self.tokens = policy.budget_burst
        self.seen = 0  # first arrivals already deposited
        self.granted = 0
        self.refused = 0  # retries the budget refused

    def delay(self, attempts_made: int, buffer: Any) -> float:
        """The backoff before the next attempt, or -1.0 when the budget refuses the retry. `buffer` is the node
        (either engine's) whose `arrivals_counted` and `reentries` give its first arrivals."""
        if self.ratio is not None:
            firsts = buffer.arrivals_counted - buffer.reentries
            self.tokens = min(self.burst, self.tokens + self.ratio * (firsts - self.seen))
            self.seen = firsts
            if self.tokens < 1.0:
                self.refused += 1
                return -1.0
            self.tokens -= 1.0
        self.granted += 1
        d = self.policy.delay(attempts_made)
        if self.jitter:
            d *= 1.0 - self.jitter * self.rand()
        return d


def gate_for(policy: RetryPolicy | None, rand: Callable[[], float]) -> RetryGate | None:
    """A gate for a policy with jitter or a budget; None for none (the plain path, with no cost)."""
    if policy is None or (not policy.jitter and policy.budget_ratio is None):
        return None
    return RetryGate(policy, rand)
