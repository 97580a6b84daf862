"""Check that a decoding method samples exactly from the target's distribution.

The target's own distribution over the first few new tokens can be computed exactly (batched
forwards over every likely prefix), so a method's samples are compared with it by a chi-square goodness-of-fit test. This is
how duolab shows that speculative methods are lossless at any temperature / top-k / top-p.
"""

from __future__ import annotations

from collections import Counter

import torch

from duolab.arguments import is_whole
from duolab.generation import generate
from duolab.models import Pair
from duolab.sampling import SamplingConfig, logits_to_probs

END = -1  # stands for "no token" after an EOS


@torch.inference_mode()
def exact_prefix_distribution(pair: Pair, prompt: str, sampling: SamplingConfig, n_tokens: int = 2,
                              min_prob: float = 1e-5, batch: int = 256) -> dict[tuple, float]:
    """P(t1, ..., tn) under the target's own sampling (AR), by enumerating every prefix whose
    probability is at least min_prob (the rest ends up in the test's pooled bin).

    Generation stops at EOS, so a prefix ending in EOS is closed: it keeps all its mass as one
    key, padded with END to n tokens (the same key `sample_prefixes` counts), and is never expanded."""
    if not is_whole(n_tokens, 1):
        raise ValueError(f"n_tokens must be an integer >= 1, got {n_tokens!r}")
    if not 0 < min_prob < 1:
        raise ValueError(f"min_prob must be in (0, 1), got {min_prob!r}")
    ids = pair.tokenizer.encode(prompt)
    eos = pair.eos_token_id
    frontier: dict[tuple, float] = {(): 1.0}
    for _ in range(n_tokens):
        grown: dict[tuple, float] = {}
        open_ = []
        for pre, mass in frontier.items():
            if pre and pre[-1] in (eos, END):
                grown[pre + (END,)] = mass  # closed: nothing follows an EOS
            else:
                open_.append(pre)
        for i in range(0, len(open_), batch):
            chunk = open_[i:i + batch]
            x = torch.tensor([ids + list(pre) for pre in chunk], device=pair.target_device)
            probs = logits_to_probs(pair.target(x).logits[:, -1].float().cpu(), sampling)
            for pre, row in zip(chunk, probs, strict=True):
                mass = row * frontier[pre]
                for tok in torch.nonzero(mass >= min_prob).flatten().tolist():
                    grown[pre + (tok,)] = float(mass[tok])
        frontier = grown
    return frontier


def sample_prefixes(pair: Pair, prompt: str, method: str, n_samples: int, sampling: SamplingConfig,
                    n_tokens: int = 2, seed: int = 0, max_new_tokens: int = 3, progress=None,
                    **options) -> Counter:
    """Counts of the first n_tokens over n_samples independent generations (seeds seed, seed+1, ...).
    A generation that stopped at EOS is padded with END, like `exact_prefix_distribution`'s keys."""
    if max_new_tokens < n_tokens:
        raise ValueError(f"max_new_tokens ({max_new_tokens}) must be >= n_tokens ({n_tokens}): "
                         "a generation cut short would be counted as if it had stopped at EOS")
    counts: Counter = Counter()
    it = range(n_samples) if progress is None else progress(range(n_samples))
    for i in it:
        g = generate(pair, prompt, method=method, max_new_tokens=max_new_tokens,
                     temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
                     seed=seed + i, **options)
        counts[tuple((g.token_ids + [END] * n_tokens)[:n_tokens])] += 1
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
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, wanted, strict=False))
    dof = len(observed) - 1
    pvalue = float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                           torch.tensor(stat / 2, dtype=torch.float64)))
    return stat, dof, pvalue


def two_sample_test(a: Counter, b: Counter, min_expected: float = 5.0) -> tuple[float, int, float]:
    """Chi-square test that two samples of counts come from one distribution (a 2 x cells table;
    cells expected fewer than min_expected times in either sample are pooled into one bin).
    Returns (statistic, degrees of freedom, p-value)."""
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        raise ValueError("two_sample_test needs two non-empty samples")
    share = na / (na + nb)
    cells, pooled = [], [0, 0]
    for c in set(a) | set(b):
        total = a.get(c, 0) + b.get(c, 0)
        if min(total * share, total * (1 - share)) >= min_expected:
            cells.append((a.get(c, 0), b.get(c, 0)))
        else:
            pooled = [pooled[0] + a.get(c, 0), pooled[1] + b.get(c, 0)]
    if sum(pooled):
        cells.append(tuple(pooled))
    stat = sum((x - (x + y) * share) ** 2 / ((x + y) * share) + (y - (x + y) * (1 - share)) ** 2 / ((x + y) * (1 - share))
               for x, y in cells)
    dof = max(len(cells) - 1, 1)
    pvalue = float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                           torch.tensor(stat / 2, dtype=torch.float64)))
    return stat, dof, pvalue
