"""The plumbing of notebook 01 (speculative sampling from scratch), so the notebook shows only the
verifier: one round's distributions from the pair, and tests of any verifier against the package's
and against the target's exact distribution.

A verifier here is any function `verify(p, q, drafts, generator) -> (accepted, next_token)`:
p holds the target's γ + 1 distributions (rows), q the draft's γ, drafts the γ drafted tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import torch

from duolab.lab.lossless import chi_square_test
from duolab.models import Pair
from duolab.sampling import SamplingConfig, logits_to_probs, sample, verify_block

Verifier = Callable[[torch.Tensor, torch.Tensor, list[int], torch.Generator], tuple[int, int]]


@torch.inference_mode()
def one_round(pair: Pair, prompt: str, gamma: int, sampling: SamplingConfig,
              generator: torch.Generator) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """One speculative round without caches: the draft samples γ tokens one at a time (keeping
    each distribution q_i), then one target forward over the prompt and the drafts gives the
    γ + 1 distributions p_i. Returns (drafts, q, p)."""
    if gamma < 1:
        raise ValueError(f"gamma must be >= 1, got {gamma}")
    ids = pair.tokenizer.encode(prompt)
    drafts, q = [], []
    for _ in range(gamma):
        logits = pair.draft(torch.tensor([ids + drafts], device=pair.draft_device)).logits[0, -1]
        q.append(logits_to_probs(logits.float().cpu(), sampling))
        drafts.append(sample(q[-1], generator))
    logits = pair.target(torch.tensor([ids + drafts], device=pair.target_device)).logits[0, len(ids) - 1:]
    return drafts, torch.stack(q), logits_to_probs(logits.float().cpu(), sampling)


def package_verifier(p: torch.Tensor, q: torch.Tensor, drafts: list[int], generator) -> tuple[int, int]:
    """duolab's own verifier (`sampling.verify_block`) in the notebook's signature."""
    verdict = verify_block(p, drafts, q, generator)
    return verdict.accepted, verdict.next_token


def same_tokens(verify: Verifier, p: torch.Tensor, q: torch.Tensor, seeds=range(200)) -> float:
    """Share of seeds on which `verify` returns what the package's verifier returns, each given
    the same drafts (sampled from q) and a generator with the same seed."""
    same = 0
    for seed in seeds:
        drafts = [sample(row, torch.Generator().manual_seed(10_000 + seed)) for row in q]
        mine = verify(p, q, drafts, torch.Generator().manual_seed(seed))
        ours = package_verifier(p, q, drafts, torch.Generator().manual_seed(seed))
        same += tuple(int(x) for x in mine) == ours
    return same / len(seeds)


def first_token_counts(verify: Verifier, p: torch.Tensor, q: torch.Tensor, trials: int = 4000,
                       seed: int = 0) -> Counter:
    """How often each token is the round's first committed token over `trials` rounds, each with
    fresh drafts from q: the first draft when it passes, else the verifier's correction."""
    generator = torch.Generator().manual_seed(seed)
    counts: Counter = Counter()
    for _ in range(trials):
        drafts = [sample(row, generator) for row in q]
        accepted, next_token = verify(p, q, drafts, generator)
        counts[drafts[0] if accepted > 0 else int(next_token)] += 1
    return counts


def first_token_test(verify: Verifier, p: torch.Tensor, q: torch.Tensor, trials: int = 4000,
                     seed: int = 0) -> tuple[float, int, float]:
    """Chi-square test of the first committed token against p[0], the target's exact distribution
    there (a lossless verifier commits each token as the target would sample it).
    Returns (statistic, degrees of freedom, p-value)."""
    expected = {t: float(v) for t, v in enumerate(p[0]) if v > 0}
    return chi_square_test(first_token_counts(verify, p, q, trials, seed), expected)
