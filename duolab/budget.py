"""Choose the draft budget from measured latencies instead of by hand.

From a LatencyProfile and an acceptance estimate alpha (the chance that a draft token equals the
target's choice), predict tokens/s for AR, SpS and duo at every budget and take the best. The
paper's rule, the budget that makes draft and target time equal, is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class Workload:
    """What the budget is chosen for: the acceptance alpha, and per prompt its length and the
    number of tokens generated before EOS, under a cap of max_new_tokens (drafts are sized by the
    cap, because the decoder cannot know where EOS will come)."""

    alpha: float
    shapes: list[tuple[int, int]]  # (prompt tokens, new tokens) per prompt
    max_new_tokens: int
    # per prompt, per new-token position: does the draft's greedy token equal the target's?
    # (lets the simulator replay greedy acceptance exactly; None: Bernoulli(alpha))
    agreement: list[list[bool]] | None = None


def as_workload(alpha: float | Workload, new_tokens: int = 128, prompt_tokens: int = 128) -> Workload:
    return alpha if isinstance(alpha, Workload) else Workload(alpha, [(prompt_tokens, new_tokens)], new_tokens)


def predicted_tokens_per_s(profile: LatencyProfile, workload: float | Workload, method: str,
                           budget: int, runs: int = 20, **kwargs) -> float:
    """Total new tokens / total predicted time over the workload's prompts."""
    w = as_workload(workload, kwargs.pop("new_tokens", 128), kwargs.pop("prompt_tokens", 128))
    tokens = seconds = 0.0
    for i, (prompt_tokens, new) in enumerate(w.shapes):
        replay = w.agreement[i] if w.agreement else None
        rate = expected_throughput(profile, method, w.alpha, budget, 1 if replay else runs,
                                   new_tokens=new, prompt_tokens=prompt_tokens,
                                   max_new_tokens=w.max_new_tokens, agreement=replay, **kwargs)
        tokens += new
        seconds += new / rate
    return tokens / seconds


def predict(profile: LatencyProfile, workload: float | Workload, methods=("ar", "sps", "duo"),
            budgets=BUDGETS, **kwargs) -> pd.DataFrame:
    """Predicted tokens/s per (method, budget); AR has one row (budget 0)."""
    rows = []
    for method in methods:
        for b in [0] if method == "ar" else budgets:
            rows.append({"method": method, "budget": b, "predicted_tokens_per_s":
                         predicted_tokens_per_s(profile, workload, method, max(b, 1), **kwargs)})
    return pd.DataFrame(rows)


def choose_budget(profile: LatencyProfile, workload: float | Workload, method: str = "duo",
                  budgets=BUDGETS, **kwargs) -> int:
    """The budget with the highest predicted tokens/s."""
    table = predict(profile, workload, [method], budgets, **kwargs)
    return int(table.loc[table.predicted_tokens_per_s.idxmax(), "budget"])


def equal_time_budget(profile: LatencyProfile, budgets=BUDGETS) -> int:
    """The paper's rule: the budget whose drafting time best matches the target's verification."""
    return min(budgets, key=lambda g: abs(profile.draft_ms(g) - profile.target_ms(g + 1)))


@torch.inference_mode()
def measure_workload(pair: Pair, prompts: list[str], max_new_tokens: int = 128) -> Workload:
    """Greedy agreement alpha -- the fraction of positions of the target's own greedy
    continuations where the draft's argmax equals the target's (one teacher-forced forward of
    each model) -- and the prompts' shapes."""
    from duolab.generation import generate

    if not prompts:
        raise ValueError("measure_workload needs at least one prompt")
    agree = total = 0
    shapes, agreement = [], []
    for prompt in prompts:
        g = generate(pair, prompt, max_new_tokens=max_new_tokens)
        prompt_ids = pair.tokenizer.encode(prompt)
        ids = torch.tensor([prompt_ids + g.token_ids])
        start = len(prompt_ids) - 1
        t = pair.target(ids.to(pair.target_device)).logits[0, start:-1].argmax(-1).cpu()
        d = pair.draft(ids.to(pair.draft_device)).logits[0, start:-1].argmax(-1).cpu()
        agree += int((t == d).sum())
        total += len(t)
        shapes.append((len(prompt_ids), len(g.token_ids)))
        agreement.append((t == d).tolist())
    return Workload(agree / total, shapes, max_new_tokens, agreement)


def auto_budget(pair: Pair, method: str = "duo") -> int:
    """The budget `budget="auto"` uses: measured once per pair (a quick profile, and the workload
    of one shipped prompt per task), then cached on the pair."""
    key = f"auto_budget_{method}"
    if key not in pair.resources:
        from duolab.tasks import TASKS, load_prompts

        profile = cached_profile(pair, quick=True)
        workload = measure_workload(pair, [load_prompts(t, 1)[0] for t in TASKS], 128)
        pair.resources["workload_estimate"] = workload
        pair.resources[key] = choose_budget(profile, workload, method, runs=5)
    return pair.resources[key]
