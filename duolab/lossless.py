"""Check that a decoding method samples exactly from the target's distribution.

The target's own distribution over the first two new tokens can be computed exactly (one batched
forward), so a method's samples are compared with it by a chi-square goodness-of-fit test. This is
how duolab shows that speculative methods are lossless at any temperature / top-k / top-p.
"""

from __future__ import annotations

from collections import Counter

import torch

from duolab.generation import generate
from duolab.models import Pair
from duolab.sampling import SamplingConfig, logits_to_probs

END = -1  # stands for "no token" after an EOS


@torch.inference_mode()
def exact_two_token_distribution(pair: Pair, prompt: str, sampling: SamplingConfig,
                                 min_prob: float = 1e-5) -> dict[tuple[int, int], float]:
    """P(t1, t2) under the target's own sampling (AR). First tokens below min_prob are dropped
    (their mass ends up in the test's pooled bin)."""
    ids = pair.tokenizer.encode(prompt)
    model, dev = pair.target, pair.target_device
    p1 = logits_to_probs(model(torch.tensor([ids], device=dev)).logits[0, -1].cpu(), sampling)
    firsts = [int(t) for t in torch.nonzero(p1 >= min_prob).flatten()]
    joint: dict[tuple[int, int], float] = {}
    eos = pair.eos_token_id
    batch = torch.tensor([ids + [t] for t in firsts], device=dev)
    p2 = logits_to_probs(model(batch).logits[:, -1].cpu(), sampling)
    for row, t1 in enumerate(firsts):
        if t1 == eos:
            joint[(t1, END)] = float(p1[t1])
            continue
        for t2 in torch.nonzero(p2[row] * p1[t1] >= min_prob * min_prob).flatten().tolist():
            joint[(t1, t2)] = float(p1[t1] * p2[row, t2])
    return joint


def sample_two_tokens(pair: Pair, prompt: str, method: str, n_samples: int, sampling: SamplingConfig,
                      seed: int = 0, max_new_tokens: int = 3, progress=None, **options) -> Counter:
    """Counts of (t1, t2) over n_samples independent generations (seeds seed, seed+1, ...)."""
    counts: Counter = Counter()
    it = range(n_samples) if progress is None else progress(range(n_samples))
    for i in it:
        g = generate(pair, prompt, method=method, max_new_tokens=max_new_tokens,
                     temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
                     seed=seed + i, **options)
        toks = g.token_ids + [END, END]
        counts[(toks[0], toks[1])] += 1
    return counts


def chi_square_test(counts: Counter, expected: dict, min_expected: float = 5.0) -> tuple[float, int, float]:
    """Goodness of fit of observed counts to expected probabilities. Cells expected fewer than
    min_expected times are pooled into one bin. Returns (statistic, degrees of freedom, p-value)."""
    n = sum(counts.values())
    cells = [c for c, p in expected.items() if p * n >= min_expected]
    observed = [counts.get(c, 0) for c in cells]
    wanted = [expected[c] * n for c in cells]
    rest_obs, rest_exp = n - sum(observed), n - sum(wanted)
    if rest_exp >= min_expected or rest_obs > 0:
        observed.append(rest_obs)
        wanted.append(max(rest_exp, 1e-9))
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, wanted))
    dof = len(observed) - 1
    pvalue = float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                           torch.tensor(stat / 2, dtype=torch.float64)))
    return stat, dof, pvalue
