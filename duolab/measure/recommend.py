"""`recommend(pair)`: which method and budget for this pair on this machine, from measurements.

It needs two things, both measured, neither a run of the methods themselves:
  * the pair's latency profile on this machine (saved, else measured: `profile_store.cached_profile`);
  * the pair's greedy output per task (`profiling.measure_workload`): where the draft agrees with
    it, replayed position by position for SpS and duo, and what prompt lookup would have proposed
    there, replayed for PLD.
The prediction itself is `duolab.predict.recommendation` (pure).
"""

from __future__ import annotations

import pandas as pd

from duolab.arguments import is_number, is_whole
from duolab.latency_profile import LatencyProfile, Workload
from duolab.measure.pair_measurements import measurements_of
from duolab.measure.profile_store import cached_profile
from duolab.measure.profiling import measure_workload
from duolab.models import Pair
from duolab.predict.recommendation import (
    Recommendation,
    duo_prediction_error,
    pick,
    predicted_speedups,
)
from duolab.predict.regime import BUDGETS
from duolab.prompts import TASKS, load_prompts


def task_workloads(pair: Pair, tasks=TASKS, prompts_per_task: int = 2,
                   max_new_tokens: int = 96) -> dict[str, Workload]:
    """Each task's greedy agreement and prompt lookups on its first prompts (measured once per
    pair: duolab.measure.pair_measurements)."""
    if prompts_per_task < 1:
        raise ValueError(f"prompts_per_task must be >= 1, got {prompts_per_task}")
    for task in tasks:
        load_prompts(task, 1)  # an unknown task fails here, before any work
    cache = measurements_of(pair).task_workloads
    out = {}
    for task in tasks:
        key = (task, prompts_per_task, max_new_tokens)
        if key not in cache:
            cache[key] = measure_workload(pair, [pair.as_prompt(p) for p in load_prompts(task, prompts_per_task)],
                                          max_new_tokens)
        out[task] = cache[key]
    return out



def recommend(pair: Pair, profile: LatencyProfile | None = None, tasks=TASKS, prompts_per_task: int = 2,
              max_new_tokens: int = 96, budgets=BUDGETS, duo_error: float | None = None,
              duo_error_from: str = "given", pld_budgets=None) -> Recommendation:
    """The fastest predicted method and budget for `pair` on the machine `profile` was measured on
    (default: this one). `budgets`: SpS's (and PLD's, unless `pld_budgets`). `duo_error`: default
    `duo_prediction_error()`. See the module's docstring."""
    if duo_error is None:
        duo_error, duo_error_from = duo_prediction_error()
    if not is_number(duo_error) or duo_error <= 0:
        raise ValueError(f"duo_error must be > 0, got {duo_error!r}")
    budgets = list(budgets)
    if not budgets or not all(is_whole(b, 1) for b in budgets):
        raise ValueError(f"budgets must be integers >= 1, got {budgets!r}")
    if not tasks:
        raise ValueError("recommend needs at least one task")
    workloads = task_workloads(pair, tasks, prompts_per_task, max_new_tokens)
    profile = profile or cached_profile(pair)
    if pld_budgets is not None and not all(is_whole(b, 1) for b in pld_budgets):
        raise ValueError(f"pld_budgets must be integers >= 1, got {pld_budgets!r}")
    table = predicted_speedups(profile, workloads, budgets, duo_error, pld_budgets)
    best, runner_up = pick(table)
    alpha = float(pd.Series([w.alpha for w in workloads.values()]).median())
    return Recommendation(best, runner_up, table, duo_error, duo_error_from, alpha, profile.machine)

