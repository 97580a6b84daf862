"""The outcome-speculation study: how often the draft could guess the target's correction at all
(scripts/outcome_coverage.py), and the gate of the outcome-cache bet, simulated before anything
is built (scripts/gate_outcome_cache.py).

Coverage: at every position where the draft's argmax differs from the target's greedy token, the
target's token's rank in the draft's distribution; the share of rejections whose correction is in
the draft's top k is the ceiling of the outcome hit rate with k - 1 alternatives per position.
The gate: each task's greedy agreement replayed on each profile for SpS at its best budget, duo's
defaults and duo with an outcome cache of W workers (duolab.predict.outcome_cache), fed by the
measured coverage (outcome_coverage.csv) and branch cost (branch_cost.csv).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from duolab.artefacts import EARLIER_PAIRS_DIR
from duolab.generation import generate
from duolab.latency_profile import LatencyProfile, Workload
from duolab.measure.profiling import measure_workload
from duolab.models import Pair
from duolab.paths import DATA_DIR
from duolab.predict.budget import predicted_tokens_per_s
from duolab.predict.outcome_cache import OutcomeCache
from duolab.predict.simulate import OUTCOME_HIT
from duolab.prompts import TASKS, load_prompts

TOP_K = (2, 3, 5, 9, 17)

GATE_PROFILES = {"h100-fp32": DATA_DIR / "profiles" / "h100-fp32.json",
                 "h100-host (previous pair)": EARLIER_PAIRS_DIR / "stage2-target-h100" / "h100-host.json",
                 "cpu-2core": DATA_DIR / "profiles" / "cpu-2core.json"}
WORKERS = (1, 2, 4, 8, 15)
GUESSES = {1: "top 2", 2: "top 3", 4: "top 5", 8: "top 9", 16: "top 17"}  # F next-best = top F + 1
GATE = 1.1
SPS_BUDGETS = range(1, 17)


# -- coverage of the target's corrections (scripts/outcome_coverage.py)

def coverage(pair: Pair, prompts: list[str], max_new_tokens: int) -> dict:
    """Greedy agreement and, over the rejections, the share whose correction is in the draft's top k."""
    ranks = []  # the target token's rank in the draft's distribution, at each rejection
    positions = 0
    for prompt in prompts:
        new = generate(pair, prompt, max_new_tokens=max_new_tokens).token_ids
        ids = pair.tokenizer.encode(prompt) + new
        with torch.inference_mode():
            logits = pair.draft(torch.tensor([ids])).logits[0, len(ids) - len(new) - 1:-1]
        order = logits.argsort(-1, descending=True)
        for row, token in zip(order, new, strict=True):
            positions += 1
            rank = int((row == token).nonzero()[0, 0])
            if rank > 0:
                ranks.append(rank)
    row = {"agreement": 1 - len(ranks) / positions, "rejections": len(ranks)}
    row.update({f"top {k}": sum(r < k for r in ranks) / len(ranks) if ranks else 0.0 for k in TOP_K})
    return row


def coverage_table(pair: Pair, n_prompts: int, max_new_tokens: int, tasks=TASKS) -> pd.DataFrame:
    """coverage() per task, on each task's first `n_prompts` prompts."""
    return pd.DataFrame([{"task": task, **coverage(pair, load_prompts(task, n_prompts), max_new_tokens)}
                         for task in tasks])


# -- the outcome-cache gate (scripts/gate_outcome_cache.py)

def coverage_by_task(path: str | Path = DATA_DIR / "results" / "outcome_coverage.csv") -> dict[str, dict[int, float]]:
    """Per task, F guesses -> the share of corrections among the draft's F + 1 best tokens."""
    table = pd.read_csv(path).set_index("task")
    return {task: {f: float(table.loc[task, col]) for f, col in GUESSES.items()} for task in table.index}


def branch_cost_ratio(path: str | Path = DATA_DIR / "results" / "branch_cost.csv") -> float:
    """t_m / t_d measured on this CPU (scripts/measure_branch_cost.py)."""
    row = pd.read_csv(path).iloc[0]
    return float(row.t_m_ms / row.t_d_ms)


def task_workloads(pair: Pair, n_prompts: int, max_new_tokens: int, tasks=TASKS) -> dict[str, Workload]:
    """Each task's greedy agreement on its first `n_prompts` prompts (as they are, no chat template)."""
    return {task: measure_workload(pair, load_prompts(task, n_prompts), max_new_tokens) for task in tasks}


def fair_sps(profile: LatencyProfile) -> LatencyProfile:
    """The profile with SpS drafting at the cheaper of its two draft costs: the previous pair's
    H100 host profile timed SpS's draft at torch's default thread count, a handicap a fair SpS
    does not have."""
    return replace(profile, sps_draft_ms_per_token=min(profile.sps_draft_ms_per_token, profile.draft_ms_per_token))


def gate_table(workloads: dict[str, Workload], coverage: dict[str, dict[int, float]], ratio: float,
               profiles: dict[str, str | Path] = GATE_PROFILES, chain_lengths=(0, 8, 16),
               outcome_hit: float = OUTCOME_HIT) -> pd.DataFrame:
    """One row per profile, task, chain length (0: duo's outcome-chain length) and W workers:
    simulated duo / SpS (best budget) today and with the outcome cache; t_m = ratio * the
    profile's t_d."""
    rows = []
    for name, path in profiles.items():
        profile = fair_sps(LatencyProfile.load(path))
        t_m = ratio * profile.draft_ms_per_token
        for task, w in workloads.items():
            sps = max(predicted_tokens_per_s(profile, w, "sps", b) for b in SPS_BUDGETS)
            duo = predicted_tokens_per_s(profile, w, "duo", "auto", outcome_hit=outcome_hit)
            row = {"profile": name, "task": task, "alpha": w.alpha, "t_m_ms": t_m, "duo / sps (today)": duo / sps}
            for length in chain_lengths:
                for workers in WORKERS:
                    cache = OutcomeCache(workers, t_m, coverage[task], length or None)
                    duo_cached = predicted_tokens_per_s(profile, w, "duo", "auto", cache=cache)
                    rows.append({**row, "chain_length": length or "duo's", "workers": workers,
                                 "duo / sps (cache)": duo_cached / sps})
    return pd.DataFrame(rows)


def gate_medians(table: pd.DataFrame) -> pd.Series:
    """Median over tasks of duo / SpS with the cache, per H100 profile, chain length and W."""
    return (table[table.profile.str.startswith("h100")]
            .groupby(["profile", "chain_length", "workers"], sort=False)["duo / sps (cache)"].median())


def gate_report(table: pd.DataFrame) -> str:
    """Per profile: today's median and the task x W table per chain length with its medians; then
    the gate's verdict (median duo / SpS >= GATE on an H100 profile for some W and chain length)."""
    lines = []
    for name, t in table.groupby("profile", sort=False):
        lines.append(f"\n{name}: simulated duo / SpS (best γ), t_m = {t.t_m_ms.iloc[0]:.3f} ms; today "
                     f"{t.drop_duplicates('task')['duo / sps (today)'].median():.3f} (median over tasks)")
        wide = t.pivot_table(index=["chain_length", "task"], columns="workers", values="duo / sps (cache)",
                             sort=False)
        lines.append(wide.round(3).to_string())
        lines.append("median over tasks:\n" + wide.groupby(level=0, sort=False).median().round(3).to_string())
    medians = gate_medians(table)
    lines.append(f"\ngate: median duo / SpS >= {GATE} on an H100 profile for some W <= 15 and chain length: "
                 f"{bool((medians >= GATE).any())} (best {medians.max():.3f}: profile, chain length, W = "
                 f"{tuple(map(str, medians.idxmax()))})")
    return "\n".join(lines)
