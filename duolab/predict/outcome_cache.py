"""A model of an outcome cache: while the target verifies a block, W draft workers draft, as batched
branches, continuations for the likeliest ways the block can be rejected (issue 28's gate).

An outcome is "rejected at block position j, corrected to one of the draft's F next-best tokens
there". The target's correction is among them with probability `coverage[F]` (measured per task:
data/results/outcome_coverage.csv), and a rejection at j happens with probability alpha^j (1 -
alpha). The block may also pass whole while the target's next token matches none of the next
block's first tokens: F more branches guess that token (the same coverage: where the draft's best
guess is wrong, the target's token is among its next F as often as a correction is). Covering
the first c positions with F guesses each, and the bonus token, is (c + 1) * F branches of
`length` tokens;
drafted in batches, a step of B branches costs t_d + (B - 1) * t_m (LatencyProfile.draft_branch_ms)
and the branches are split over the workers. `OutcomeCache.plan` picks the (c, F) with the most
probability of a caught rejection that fits in the time the target's forward leaves; the simulator
(duolab.predict.simulate, `cache=`) then catches a rejection at j < c with probability coverage[F].
The committed tokens alone pick the entry, so a real cache would be lossless at any temperature.

What the model leaves out in duo's favour: the cost of ranking and messaging many branches,
memory bandwidth shared by W workers, the time to pick the entry at the sync, and a stronger SpS
that verifies a batched draft tree. Against duo: every cached chain has one length (`length`,
by default duo's outcome-chain length), where a real cache would spend spare time on longer
chains for the likeliest outcomes; the gate script reports longer lengths beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class OutcomeCache:
    workers: int  # W draft workers; one drafts the next block, the others start outcomes at once
    t_m_ms: float  # what one more branch adds to a batched step
    coverage: dict[int, float]  # F guesses per position -> P(the correction is among them)
    length: int | None = None  # tokens per cached chain (None: duo's outcome-chain length)

    def __post_init__(self):
        if self.workers < 1 or self.t_m_ms < 0 or not self.coverage:
            raise ValueError(f"need workers >= 1, t_m >= 0 and a coverage curve, got {self}")

    def drafting_ms(self, branches: int, length: int, t_d_ms: float) -> float:
        """Time to draft `branches` chains of `length` tokens, batched, over the workers that are
        free for outcomes (all but the one drafting the next block, when there are several)."""
        free = max(1, self.workers - 1)
        per_worker = math.ceil(branches / free)
        return length * (t_d_ms + (per_worker - 1) * self.t_m_ms)

    def plan(self, block: int, alpha: float, avail_ms: float, length: int, t_d_ms: float) -> tuple[int, float]:
        """(positions covered c, P(the outcome is cached | rejected at j < c, or the bonus token
        missed)): the (c, F) with the largest sum over j < c of alpha^j (1 - alpha) * coverage[F]
        that fits in `avail_ms`."""
        best, best_value = (0, 0.0), 0.0
        for f, hit in sorted(self.coverage.items()):
            for c in range(block, 0, -1):  # the most positions that fit at this F
                if self.drafting_ms((c + 1) * f, length, t_d_ms) <= avail_ms:
                    value = (1 - alpha ** c) * hit  # sum_{j<c} alpha^j (1 - alpha)
                    if value > best_value:
                        best, best_value = (c, hit), value
                    break
        return best
