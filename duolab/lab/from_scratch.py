"""The plumbing of notebook 01 (speculative sampling from scratch), so the notebook shows only the
verifier: one round's distributions from the pair, a block test of any verifier against the
target's exact distribution, and the broken verifiers that test must catch.

A verifier here is any function `verify(p, q, drafts, generator) -> (accepted, next_token)`:
p holds the target's γ + 1 distributions (rows), q the draft's γ, drafts the γ drafted tokens.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable

import pandas as pd
import torch

from duolab.arguments import is_whole
from duolab.lab.lossless import chi_square_test, two_sample_test
from duolab.models import Pair
from duolab.sampling import SamplingConfig, logits_to_probs, sample, verify_block

Verifier = Callable[[torch.Tensor, torch.Tensor, list[int], torch.Generator], tuple[int, int]]

LEVEL = 1e-3          # a verifier is caught when the block test's p-value is at most this
BLOCK_TRIALS = 8_000  # rounds of decoding per block test: all 8 breaks caught on each of seeds 0-4
BLOCK_TOKENS = 3      # m: the test looks at the first m committed tokens jointly
BLOCK_GAMMA = 2       # γ of the synthetic round: m = γ + 1 puts the bonus token inside the block


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


# --- a round where the coin decides -------------------------------------------------------------

# The target's row at position 0. Four tokens, three of them in p's support, keep the chi-square's
# cells few (27 blocks of three tokens), so its power goes to the breaks rather than to noise.
BASE_ROW = (0.5, 0.3, 0.2, 0.0)


def synthetic_round(gamma: int = BLOCK_GAMMA, m: int = BLOCK_TOKENS) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows p_i, q_i of a made-up pair for positions 0 .. m + γ - 1 (the last round of an m-token
    block may start at position m - 1 and needs γ + 1 target rows). Returns (p, q).

    p_i is BASE_ROW rotated i places to the left, so each position favours another token (and a
    verifier that mixes up positions shows); q_i is p_i rotated one place right, i.e. the draft
    lags one position behind the target. At every position the draft then never proposes the
    target's favourite (q = 0 < p: only the residual can commit it), over-proposes the next two
    (0 < p/q < 1: the coin decides) and proposes one the target never takes (p = 0 < q)."""
    if not (is_whole(gamma, 1) and is_whole(m, 1)):
        raise ValueError(f"gamma and m must be integers >= 1, got {gamma!r} and {m!r}")
    base = torch.tensor(BASE_ROW, dtype=torch.float64)
    p = torch.stack([base.roll(-i) for i in range(m + gamma)])
    return p, p[:-1].roll(1, dims=1)


def block_counts(verify: Verifier, trials: int, seed: int = 0, m: int = BLOCK_TOKENS,
                 gamma: int = BLOCK_GAMMA) -> Counter:
    """How often each m-token block comes out of `trials` decodings of the synthetic pair with
    `verify`: rounds are chained (a round starting at position s sees p[s:s+γ+1], q[s:s+γ] and
    fresh drafts from those q rows; it commits drafts[:accepted] + [next_token]) until m tokens
    are committed."""
    if not is_whole(trials, 1):
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    p, q = synthetic_round(gamma, m)
    windows = [(p[s:s + gamma + 1], q[s:s + gamma]) for s in range(m)]
    generator = torch.Generator().manual_seed(seed)
    # each trial's rounds start at increasing positions: one set of fresh drafts per start suffices
    drafts = [torch.multinomial(q_s, trials, replacement=True, generator=generator).T.tolist()
              for _, q_s in windows]
    counts: Counter = Counter()
    for trial in range(trials):
        block: list[int] = []
        while len(block) < m:
            (p_s, q_s), drafted = windows[len(block)], drafts[len(block)][trial]
            accepted, next_token = verify(p_s, q_s, drafted, generator)
            accepted = int(accepted)
            if not 0 <= accepted <= gamma:
                raise ValueError(f"the verifier accepted {accepted} of {gamma} drafts")
            block += drafted[:accepted] + [int(next_token)]
        counts[tuple(block[:m])] += 1
    return counts


def block_test(verify: Verifier, trials: int = BLOCK_TRIALS, seed: int = 0, m: int = BLOCK_TOKENS,
               gamma: int = BLOCK_GAMMA) -> tuple[float, int, float]:
    """Chi-square test of the first m committed tokens, jointly, against the target's exact
    distribution: the synthetic rows ignore the context, so it is the product of p_0 .. p_{m-1}.
    Later positions and the bonus token count, not only the first token.
    Returns (statistic, degrees of freedom, p-value)."""
    counts = block_counts(verify, trials, seed, m, gamma)
    p = synthetic_round(gamma, m)[0].tolist()
    expected = {block: math.prod(p[i][t] for i, t in enumerate(block))
                for block in itertools.product(range(len(p[0])), repeat=m)}
    return chi_square_test(counts, {block: e for block, e in expected.items() if e > 0})


# --- verifiers, right and broken -----------------------------------------------------------------

def _residual(p_i: torch.Tensor, q_i: torch.Tensor) -> torch.Tensor:
    r = (p_i - q_i).clamp_min(0)
    return r / r.sum()


def _verify(p, q, drafts, generator, accept=lambda i, p_d, q_d: min(1.0, p_d / q_d),
            correction=_residual, bonus=lambda p, q: p[-1]):
    """Speculative sampling with its three pieces as arguments: the chance to accept draft i, the
    distribution of the correction after a rejection, the distribution of the bonus token. The
    defaults are the right ones. It draws a coin for every draft, even when p >= q."""
    for i, d in enumerate(drafts):
        if float(torch.rand((), generator=generator)) < accept(i, float(p[i, d]), float(q[i, d])):
            continue
        return i, sample(correction(p[i], q[i]), generator)
    return len(drafts), sample(bonus(p, q), generator)


def coin_always(p, q, drafts, generator):
    """Correct, but unlike duolab it draws a coin even when p >= q: other tokens, same law."""
    return _verify(p, q, drafts, generator)


def accept_always(p, q, drafts, generator):
    """No ratio test: every draft passes, so drafted tokens follow q."""
    return _verify(p, q, drafts, generator, accept=lambda i, p_d, q_d: 1.0)


def accept_if_p_ge_q(p, q, drafts, generator):
    """A hard threshold instead of the coin: accept iff p >= q."""
    return _verify(p, q, drafts, generator, accept=lambda i, p_d, q_d: float(p_d >= q_d))


def ratio_at_first_only(p, q, drafts, generator):
    """The ratio test at position 0 only; later drafts always pass."""
    return _verify(p, q, drafts, generator, accept=lambda i, p_d, q_d: min(1.0, p_d / q_d) if i == 0 else 1.0)


def bonus_from_q(p, q, drafts, generator):
    """The bonus token drawn from the draft's last row instead of the target's extra row."""
    return _verify(p, q, drafts, generator, bonus=lambda p, q: q[-1])


def ratio_to_the_08(p, q, drafts, generator):
    """Acceptance min(1, (p/q)^0.8): a little too lenient wherever p < q."""
    return _verify(p, q, drafts, generator, accept=lambda i, p_d, q_d: min(1.0, (p_d / q_d) ** 0.8))


def ratio_times_11(p, q, drafts, generator):
    """Acceptance min(1, 1.1 p/q): ten percent too lenient wherever p < q."""
    return _verify(p, q, drafts, generator, accept=lambda i, p_d, q_d: min(1.0, 1.1 * p_d / q_d))


def residual_mixed_with_p(p, q, drafts, generator):
    """The correction from 0.9 residual + 0.1 p: a tenth of it from the wrong distribution."""
    return _verify(p, q, drafts, generator, correction=lambda p_i, q_i: 0.9 * _residual(p_i, q_i) + 0.1 * p_i)


def no_residual(p, q, drafts, generator):
    """The correction drawn from p itself instead of the residual."""
    return _verify(p, q, drafts, generator, correction=lambda p_i, q_i: p_i)


CORRECT_VERIFIERS: dict[str, Verifier] = {"duolab's verify_block": package_verifier,
                                          "correct, coin always": coin_always}
BROKEN_VERIFIERS: dict[str, Verifier] = {
    "accept always": accept_always, "accept iff p >= q": accept_if_p_ge_q,
    "ratio at position 0 only": ratio_at_first_only, "bonus from q": bonus_from_q,
    "(p/q)^0.8": ratio_to_the_08, "1.1 p/q": ratio_times_11,
    "0.9 residual + 0.1 p": residual_mixed_with_p, "no residual": no_residual}


def same_break(verify: Verifier, reference: Verifier, trials: int = BLOCK_TRIALS, seed: int = 0) -> float:
    """p-value of a two-sample chi-square: do `verify` and `reference` commit blocks with one
    distribution (independent seeds)? Tells one break from another, where the block test only
    says that something is broken."""
    return two_sample_test(block_counts(verify, trials, seed), block_counts(reference, trials, seed + 1))[2]


def break_table(seeds=range(5), trials: int = BLOCK_TRIALS) -> pd.DataFrame:
    """The block test of every broken and correct verifier on each seed: how many seeds caught it
    (p-value <= LEVEL) and the p-values."""
    rows = {}
    for name, verify in {**BROKEN_VERIFIERS, **CORRECT_VERIFIERS}.items():
        pvalues = {f"p, seed {s}": block_test(verify, trials, s)[2] for s in seeds}
        rows[name] = {"caught": sum(pv <= LEVEL for pv in pvalues.values()), **pvalues}
    return pd.DataFrame.from_dict(rows, orient="index")
