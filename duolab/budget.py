"""Choose the draft budget from measured latencies instead of by hand.

From a LatencyProfile and an acceptance estimate alpha (the chance that a draft token equals the
target's choice), predict tokens/s for AR, SpS and duo at every budget and take the best. The
paper's rule, the budget that makes draft and target time equal, is reported beside it.
"""

from __future__ import annotations

import pandas as pd
import torch

from duolab.models import Pair
from duolab.profiling import LatencyProfile, cached_profile
from duolab.simulate import expected_throughput

BUDGETS = range(1, 33)


def expected_accepted(alpha: float, n: int) -> float:
    """Expected tokens one round commits when n drafts each pass with probability alpha, the chain
    stops at the first failure, and the target adds one token: (1 - alpha^(n+1)) / (1 - alpha)."""
    if not 0 <= alpha <= 1 or n < 0:
        raise ValueError(f"need 0 <= alpha <= 1 and n >= 0, got alpha={alpha}, n={n}")
    return float(n + 1) if alpha == 1 else (1 - alpha ** (n + 1)) / (1 - alpha)


def predict(profile: LatencyProfile, alpha: float, methods=("ar", "sps", "duo"),
            budgets=BUDGETS, **kwargs) -> pd.DataFrame:
    """Predicted tokens/s per (method, budget); AR has one row (budget 0)."""
    rows = []
    for method in methods:
        for b in [0] if method == "ar" else budgets:
            rows.append({"method": method, "budget": b, "predicted_tokens_per_s":
                         expected_throughput(profile, method, alpha, max(b, 1), **kwargs)})
    return pd.DataFrame(rows)


def choose_budget(profile: LatencyProfile, alpha: float, method: str = "duo",
                  budgets=BUDGETS, **kwargs) -> int:
    """The budget with the highest predicted tokens/s."""
    table = predict(profile, alpha, [method], budgets, **kwargs)
    return int(table.loc[table.predicted_tokens_per_s.idxmax(), "budget"])


def equal_time_budget(profile: LatencyProfile, budgets=BUDGETS) -> int:
    """The paper's rule: the budget whose drafting time best matches the target's verification."""
    return min(budgets, key=lambda g: abs(profile.draft_ms(g) - profile.target_ms(g + 1)))


@torch.inference_mode()
def measure_acceptance(pair: Pair, prompts: list[str], max_new_tokens: int = 64) -> float:
    """Greedy agreement: the fraction of positions of the target's own greedy continuations where
    the draft's argmax equals the target's (one teacher-forced forward of each model)."""
    from duolab.generation import generate

    if not prompts:
        raise ValueError("measure_acceptance needs at least one prompt")
    agree = total = 0
    for prompt in prompts:
        g = generate(pair, prompt, max_new_tokens=max_new_tokens)
        start = len(pair.tokenizer.encode(prompt)) - 1
        ids = torch.tensor([pair.tokenizer.encode(prompt) + g.token_ids])
        t = pair.target(ids.to(pair.target_device)).logits[0, start:-1].argmax(-1).cpu()
        d = pair.draft(ids.to(pair.draft_device)).logits[0, start:-1].argmax(-1).cpu()
        agree += int((t == d).sum())
        total += len(t)
    return agree / total


def auto_budget(pair: Pair, method: str = "duo") -> int:
    """The budget `budget="auto"` uses: measured once per pair (profile and acceptance on one
    shipped prompt per task), then cached on the pair."""
    key = f"auto_budget_{method}"
    if key not in pair.resources:
        from duolab.tasks import TASKS, load_prompts

        profile = cached_profile(pair, quick=True)
        alpha = measure_acceptance(pair, [load_prompts(t, 1)[0] for t in TASKS], 48)
        pair.resources["acceptance_estimate"] = alpha
        pair.resources[key] = choose_budget(profile, alpha, method, runs=10)
    return pair.resources[key]
