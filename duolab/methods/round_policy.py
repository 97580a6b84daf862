"""duo's per-round decisions, from a LatencyProfile and a running estimate of alpha.

Each round duo has to decide, before the target's forward starts:
  * how many tokens the draft drafts for the next block while the target verifies this one
    (`budget`: a fixed number, or per round from the profile);
  * when a round would start with nothing to verify (after a rejection nobody guessed), whether
    to verify the empty block -- one target forward for one token -- or first wait for a chain of
    c draft tokens (`catch_up_length`);
  * which rejection outcomes of this round's block the draft pre-drafts in the time it has left
    (`rank_outcomes`), and until when (`draft_deadline_ms`; the target also tells the worker when
    its forward is done), so that the sync is not delayed.
Pure: no models, no timing. duo.py and the simulator make the same decisions with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from duolab.latency_profile import LatencyProfile

# the paper's schedule in duo's options: verify whatever was drafted, budget 8, no catch-up chains,
# no outcome chains
PAPER_SCHEDULE = {"budget": 8, "catch_up": 0, "outcomes": False}
MAX_BUDGET = 32
MAX_CATCH_UP = 16
MAX_OUTCOMES = 8
# a drafted token whose chance of being reached (alpha^position) is below this is not worth the
# draft time: that time pre-drafts rejection outcomes instead
MIN_REACH = 0.05
PRIOR_WEIGHT = 8  # the prior alpha counts as this many checked draft tokens


def expected_accepted(alpha: float, n: int) -> float:
    """Expected tokens one round commits when n drafts each pass with probability alpha, the chain
    stops at the first failure, and the target adds one token: (1 - alpha^(n+1)) / (1 - alpha)."""
    if not 0 <= alpha <= 1 or n < 0:
        raise ValueError(f"need 0 <= alpha <= 1 and n >= 0, got alpha={alpha}, n={n}")
    return float(n + 1) if alpha == 1 else (1 - alpha ** (n + 1)) / (1 - alpha)


def catch_up_length(profile: LatencyProfile, alpha: float, cap: int = MAX_CATCH_UP) -> int:
    """Tokens to wait for before a round that has nothing to verify: the c with the most expected
    tokens per ms of that round, where c = 0 (verify the empty block) commits one token in T_t(1)
    and c > 0 commits expected_accepted(alpha, c) in draft_ms(c) + channel + T_t(c + 1)."""
    best, best_rate = 0, 1 / profile.target_ms(1)
    for c in range(1, cap + 1):
        ms = profile.draft_ms(c) + profile.channel_ms + profile.target_ms(c + 1)
        if expected_accepted(alpha, c) / ms > best_rate:
            best, best_rate = c, expected_accepted(alpha, c) / ms
    return best


def draft_deadline_ms(profile: LatencyProfile, verify_tokens: int) -> float:
    """How long after a request the draft's reply must be sent so the target never waits: the
    target's forward over `verify_tokens` tokens, less the reply's way back."""
    return max(0.0, profile.target_ms(verify_tokens) - profile.channel_ms / 2)


def round_budget(profile: LatencyProfile, alpha: float, verify_tokens: int, cap: int = MAX_BUDGET,
                 catch_up: int | None = None) -> int:
    """Draft tokens for the next block while the target verifies `verify_tokens` (a block of
    verify_tokens - 1 and the target's own next token). A tree of n tokens starts with a guess of
    that next token, so it becomes a block of n - 1 -- and only when the block in verification
    passes whole and the guess is right, probability about used = alpha^verify_tokens; otherwise
    the next round starts with nothing (see `empty_round`). The n chosen, of those likely to be
    reached (alpha^n >= MIN_REACH), has the most expected tokens per ms over this round's wait
    for the draft and the next round:
        (used * expected_accepted(alpha, n - 1) + (1 - used) * E_empty)
        / (wait(n) + used * T_t(n) + (1 - used) * T_empty).
    wait(n) is how long the target waits for a draft that does not fit in this forward: usually
    none is worth it, but where a draft step costs a good part of a target step one token more than
    fits can still pay. 0 -- draft nothing -- when the best n would keep the target waiting and a
    round with nothing drafted commits more per ms: a draft so slow that one request outlasts the
    forward would otherwise hold every round back to its pace. A draft that fits is never dropped.
    `catch_up`: catch_up_length(profile, alpha), when the caller has it already."""
    reach = cap if alpha >= 1 else int(math.log(MIN_REACH) / math.log(max(alpha, 1e-6))) + 1
    ready = draft_deadline_ms(profile, verify_tokens)
    used = alpha ** verify_tokens
    e_empty, t_empty = empty_round(profile, alpha, catch_up)

    def wait(n: int) -> float:
        return max(0.0, profile.draft_ms(n) - ready)

    def rate(n: int) -> float:
        tokens = used * expected_accepted(alpha, n - 1) + (1 - used) * e_empty
        return tokens / (wait(n) + used * profile.target_ms(n) + (1 - used) * t_empty)

    best = max(range(1, max(2, min(cap, reach)) + 1), key=rate)
    return 0 if wait(best) > 0 and rate(best) < e_empty / t_empty else best


def empty_round(profile: LatencyProfile, alpha: float, catch_up: int | None = None) -> tuple[float, float]:
    """(expected tokens, ms) of a round that has nothing drafted to verify: the empty block's one
    token in T_t(1), or its catch-up chain when waiting for one pays (`catch_up_length`, unless
    given as `catch_up`)."""
    c = catch_up_length(profile, alpha) if catch_up is None else catch_up
    if c == 0:
        return 1.0, profile.target_ms(1)
    return expected_accepted(alpha, c), profile.draft_ms(c) + profile.channel_ms + profile.target_ms(c + 1)


def reach_chances(probs: list[float]) -> list[float]:
    """By the draft's own estimate (token j drafted with probability probs[j]), the chance that the
    target accepts the first j tokens, for j = 0..len(probs): the last is the whole block's."""
    reach = [1.0]
    for p in probs:
        reach.append(reach[-1] * p)
    return reach


def rank_outcomes(probs: list[float], alternatives: list[list[tuple[int, float]]], start: int,
                  limit: int = MAX_OUTCOMES) -> list[tuple[int, int]]:
    """The likeliest rejection outcomes of a block, as (prefix length, correction) pairs, best first.

    The block's token j was drafted with probability probs[j], next-best tokens alternatives[j]
    [(r, q), ...]; `start` is the context length before the block. By the draft's own estimate,
    the target accepts the first j tokens and corrects token j to r with probability
    prod(probs[:j]) * q."""
    reach = reach_chances(probs)
    ranked = [(reach[j] * q, start + j, alt)
              for j, alts in enumerate(alternatives) for alt, q in alts]
    ranked.sort(key=lambda r: -r[0])
    return [(prefix, alt) for _, prefix, alt in ranked[:limit]]


@dataclass
class RoundPolicy:
    """duo's options turned into per-round decisions. `budget` and `catch_up` are fixed numbers or
    None (chosen each round from `profile` and the running alpha); with `outcomes` the draft
    pre-drafts rejection outcomes in its spare time (until the predicted end of the target's
    forward when there is a profile, else until the target says it is done)."""

    profile: LatencyProfile | None
    prior_alpha: float
    budget: int | None = None
    catch_up: int | None = 0
    outcomes: bool = False
    checked: int = 0
    accepted: int = 0
    # (alpha, catch_up_length at it): a round asks for it up to three times (budget, catch-up,
    # outcome length), and it is on the path before every target forward
    _catch_up_at: tuple[float, int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_options(cls, profile: LatencyProfile | None, prior_alpha: float, budget: int | str,
                     catch_up: int | str, outcomes: bool) -> RoundPolicy:
        """duo's options as the decoder takes them: "auto" (chosen per round) becomes None."""
        return cls(profile, prior_alpha, None if budget == "auto" else budget,
                   None if catch_up == "auto" else catch_up, outcomes)

    def observe(self, checked: int, accepted: int) -> None:
        self.checked += checked
        self.accepted += accepted

    @property
    def alpha(self) -> float:
        """Acceptance so far in this generation, pulled toward the prior while little is seen."""
        a = (self.accepted + PRIOR_WEIGHT * self.prior_alpha) / (self.checked + PRIOR_WEIGHT)
        return min(max(a, 0.0), 0.99)

    def _auto_catch_up(self) -> int:
        alpha = self.alpha
        if self._catch_up_at is None or self._catch_up_at[0] != alpha:
            self._catch_up_at = (alpha, catch_up_length(self.profile, alpha))
        return self._catch_up_at[1]

    def draft_budget(self, verify_tokens: int) -> int:
        if self.budget is not None:
            return self.budget
        return round_budget(self.profile, self.alpha, verify_tokens, catch_up=self._auto_catch_up())

    def catch_up_tokens(self) -> int:
        return self.catch_up if self.catch_up is not None else self._auto_catch_up()

    def outcome_length(self) -> int:
        """Tokens of an outcome chain: the correction and a continuation as long as a catch-up
        (at least 2; with no profile, 4)."""
        if self.catch_up is None or self.catch_up > 0:
            return 1 + max(2, self.catch_up_tokens())
        return 1 + (max(2, self._auto_catch_up()) if self.profile else 4)

    def hidden_draft_tokens(self, verify_tokens: int) -> int | None:
        """Draft tokens the worker drafts within a target forward over `verify_tokens` (request and
        channel included); None without a profile."""
        p = self.profile
        if p is None or not p.draft_ms_per_token:
            return None
        return max(0, int((p.target_ms(verify_tokens) - p.channel_ms - p.draft_overhead_ms) / p.draft_ms_per_token))

    def deadline_ms(self, verify_tokens: int) -> float:
        return draft_deadline_ms(self.profile, verify_tokens) if self.profile is not None else 0.0
