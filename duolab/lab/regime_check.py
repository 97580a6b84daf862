"""The regime map checked at measured points (scripts/check_regime_points.py calls it).

For one configuration of a pair: its LatencyProfile and workload (greedy agreement on held-out
prompts), SpS's and duo's (the paper's schedule) best budgets as the simulator predicts them, a
round-robin run of ar, sps and duo at those budgets, and the measured duo/SpS ratio against the
predicted one.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

from duolab.lab.bench import run_benchmark, summarize
from duolab.latency_profile import LatencyProfile, Workload
from duolab.measure.profiling import measure_workload, profile_pair
from duolab.models import Pair
from duolab.predict.budget import predict
from duolab.predict.regime import BUDGETS, SCHEDULES, regime_point
from duolab.prompts import TASKS, load_prompts

# the regime map's CPU points: load_pair options per configuration of the default pair
CONFIGS = {
    "cpu-2core": {},
    "cpu-2core-transformers-draft": {"draft_runner": "transformers"},
    "cpu-2core-fast-target": {"target_runner": "fast"},
}
TOLERANCE = 0.15  # a point is "within" when |predicted / measured - 1| <= this


def predicted_best(profile: LatencyProfile, workload: Workload) -> dict[str, pd.Series]:
    """SpS's and duo's best row of predict() (budget, predicted_tokens_per_s, ...), each from its
    own grid (the same grids the regime map uses); duo runs the paper's schedule, as in the
    regime map's "paper" panels."""
    return {m: predict(profile, workload, (m,), budgets, **opts).sort_values("predicted_tokens_per_s").iloc[-1]
            for m, budgets, opts in (("sps", BUDGETS, {}), ("duo", BUDGETS, SCHEDULES["paper"]))}


def check_point(pair: Pair, name: str, prompts: int, repeats: int, new_tokens: int,
                profile_path: str | Path | None = None) -> dict:
    """One row of the check for the loaded `pair`: the profile (saved to `profile_path` as soon
    as it is measured), the predicted and measured duo/SpS ratio and both speedups over AR."""
    profile = profile_pair(pair)
    if profile_path is not None:
        profile.save(profile_path)
    texts = [p for t in TASKS for p in load_prompts(t, prompts)]
    workload = measure_workload(pair, texts, new_tokens)
    best = predicted_best(profile, workload)
    b_sps, b_duo = int(best["sps"].budget), int(best["duo"].budget)
    methods = {"ar": {"method": "ar"}, "sps": {"method": "sps", "budget": b_sps},
               "duo": {"method": "duo", "budget": b_duo, **SCHEDULES["paper"]}}
    raw = run_benchmark(pair, methods, TASKS, prompts, new_tokens, repeats, {"seed": 0}, progress=False)
    per_task = summarize(raw)
    per_task = per_task[per_task.task != "median"].pivot(index="task", columns="label", values="tokens_per_s")
    measured = statistics.median(per_task["duo"] / per_task["sps"])
    predicted = float(best["duo"].predicted_tokens_per_s / best["sps"].predicted_tokens_per_s)
    ratio, slope = regime_point(profile)
    return {"point": name, "cost_ratio": ratio, "slope": slope, "alpha": workload.alpha,
            "sps_budget": b_sps, "duo_budget": b_duo, "predicted_duo_over_sps": predicted,
            "measured_duo_over_sps": measured, "error": predicted / measured - 1,
            "measured_sps_speedup": statistics.median(per_task["sps"] / per_task["ar"]),
            "measured_duo_speedup": statistics.median(per_task["duo"] / per_task["ar"]),
            "all_equal_ar": bool(raw.matches_ar.all())}


def within_tolerance(table: pd.DataFrame, tolerance: float = TOLERANCE) -> int:
    """How many of the table's points the simulator predicted within `tolerance`."""
    return int((table.error.abs() <= tolerance).sum())
