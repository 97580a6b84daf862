"""Which method, at which budget, on this machine? `recommend(pair)` answers from measurements.

It needs two things, both measured, neither a run of the methods themselves:
  * the pair's latency profile on this machine (saved, else measured: `profile_store.cached_profile`);
  * the pair's greedy agreement per task (`profiling.measure_workload`), replayed position by
    position by the simulator, so each task's real run of accepts and rejections is kept.
SpS is predicted at every budget of `budgets` and duo at its defaults (budget chosen per round);
the setting with the highest median speedup over the tasks wins, as in the fair table.
The simulator is kinder to duo than a real run: it has no process, channel or cache effects
beyond the profile's means, and on this CPU it over-predicts duo's defaults by a median 11 % (SpS:
within a few %). duo's prediction is divided by that measured factor (`duo_prediction_error`,
from the committed CPU fair run) before the two are compared.
`scripts/check_recommend.py` holds the answer against the committed fair runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from duolab.arguments import is_number, is_whole
from duolab.latency_profile import LatencyProfile, Workload
from duolab.models import Pair
from duolab.paths import DATA_DIR
from duolab.prompts import TASKS, load_prompts
from duolab.timing.budget import predicted_tokens_per_s
from duolab.timing.profile_store import cached_profile
from duolab.timing.profiling import measure_workload
from duolab.timing.regime import BUDGETS


@dataclass
class Recommendation:
    """The faster of SpS (at its best budget) and duo (defaults), predicted for one pair on one
    machine. `table`: predicted speedup over AR per task (rows, and "median") and setting
    (columns "sps γ=N" and "duo")."""

    method: str  # "sps" or "duo"
    budget: int | str  # SpS's γ, or "auto" for duo
    sps_budget: int
    sps_speedup: float  # median over tasks, predicted
    duo_speedup: float  # the same, divided by duo_error
    duo_error: float  # the simulator's duo over a real duo run's, measured (`duo_prediction_error`)
    alpha: float  # median greedy agreement over the tasks
    machine: str
    table: pd.DataFrame

    @property
    def speedup(self) -> float:
        return self.sps_speedup if self.method == "sps" else self.duo_speedup

    @property
    def kwargs(self) -> dict:
        """What to pass to `generate`: `generate(pair, prompt, **rec.kwargs)`."""
        return {"method": self.method, "budget": self.budget}

    def __str__(self) -> str:
        other = "duo" if self.method == "sps" else "sps"
        ratio = self.speedup / (self.duo_speedup if other == "duo" else self.sps_speedup)
        return (f"use {self.method} with budget={self.budget!r}: predicted {self.speedup:.2f}x AR "
                f"({ratio:.2f}x {other}), median over {len(self.table) - 1} tasks\n"
                f"  sps at its best γ={self.sps_budget}: {self.sps_speedup:.2f}x AR\n"
                f"  duo (budget chosen per round): {self.duo_speedup:.2f}x AR "
                f"(simulated {self.duo_speedup * self.duo_error:.2f}x, less the simulator's measured "
                f"over-prediction of duo, {self.duo_error:.2f}x)\n"
                f"  median α {self.alpha:.2f}; on {self.machine}")

    __repr__ = __str__


def duo_prediction_error(run_dir=DATA_DIR / "results") -> float:
    """How much the simulator over-predicts duo's defaults: the median over tasks of predicted /
    measured speedup in a fair run's methods_duo.csv (scripts/bench_methods.py), 1.0 without one."""
    path = run_dir / "methods_duo.csv"
    if not path.exists():
        return 1.0
    return float(pd.read_csv(path)["duo predicted/measured speedup"].median())


def task_workloads(pair: Pair, tasks=TASKS, prompts_per_task: int = 2,
                   max_new_tokens: int = 96) -> dict[str, Workload]:
    """Each task's greedy agreement on its first prompts (kept on the pair: measured once)."""
    if prompts_per_task < 1:
        raise ValueError(f"prompts_per_task must be >= 1, got {prompts_per_task}")
    for task in tasks:
        load_prompts(task, 1)  # an unknown task fails here, before any work
    cache = pair.resources.setdefault("task_workloads", {})
    out = {}
    for task in tasks:
        key = (task, prompts_per_task, max_new_tokens)
        if key not in cache:
            cache[key] = measure_workload(pair, [pair.as_prompt(p) for p in load_prompts(task, prompts_per_task)],
                                          max_new_tokens)
        out[task] = cache[key]
    return out


def predicted_speedups(profile: LatencyProfile, workloads: dict[str, Workload], budgets=BUDGETS) -> pd.DataFrame:
    """Predicted speedup over AR, per task (rows, then "median") and setting (columns)."""
    rows = {}
    for task, work in workloads.items():
        ar = predicted_tokens_per_s(profile, work, "ar", 1)
        row = {f"sps γ={b}": predicted_tokens_per_s(profile, work, "sps", b) / ar for b in budgets}
        row["duo"] = predicted_tokens_per_s(profile, work, "duo", "auto") / ar
        rows[task] = row
    table = pd.DataFrame(rows).T
    table.loc["median"] = table.median()
    return table


def recommend(pair: Pair, profile: LatencyProfile | None = None, tasks=TASKS, prompts_per_task: int = 2,
              max_new_tokens: int = 96, budgets=BUDGETS, duo_error: float | None = None) -> Recommendation:
    """sps or duo, and its budget, for `pair` on the machine `profile` was measured on (default:
    this one). `duo_error`: default `duo_prediction_error()`. See the module's docstring."""
    duo_error = duo_prediction_error() if duo_error is None else duo_error
    if not is_number(duo_error) or duo_error <= 0:
        raise ValueError(f"duo_error must be > 0, got {duo_error!r}")
    budgets = list(budgets)
    if not budgets or not all(is_whole(b, 1) for b in budgets):
        raise ValueError(f"budgets must be integers >= 1, got {budgets!r}")
    if not tasks:
        raise ValueError("recommend needs at least one task")
    workloads = task_workloads(pair, tasks, prompts_per_task, max_new_tokens)
    profile = profile or cached_profile(pair)
    table = predicted_speedups(profile, workloads, budgets)
    median = table.loc["median"]
    sps_budget = max(budgets, key=lambda b: median[f"sps γ={b}"])
    sps, duo = float(median[f"sps γ={sps_budget}"]), float(median["duo"]) / duo_error
    method, budget = ("duo", "auto") if duo > sps else ("sps", sps_budget)
    alpha = float(pd.Series([w.alpha for w in workloads.values()]).median())
    return Recommendation(method, budget, sps_budget, sps, duo, duo_error, alpha, profile.machine, table)
