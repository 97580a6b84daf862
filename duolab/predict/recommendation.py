"""Which method, at which budget, on a machine: predicted from a latency profile and per-task
workloads (pure: numbers in, a table out; `duolab.measure.recommend` measures them for a pair).

Every method is a candidate: AR (1x by definition), SpS at every budget of `budgets`, PLD at every
budget up to what the workloads recorded (its drafts cost nothing; its verification costs T_t(n)),
duo at its defaults, and, where the workloads recorded prompt lookups, SpS and duo with retrieved
chains (`retrieval=` each of `retrieval_caps`; SpS at every budget); the setting with the highest median speedup over the tasks wins, as in
the fair table, and the runner-up is named with its margin. `hf` (transformers' assisted
generation) is listed as not predicted: its own draft loop and schedule are not in the profile.
The simulator is kinder to duo than a real run: it has no process, channel or cache effects
beyond the profile's means. duo's prediction is divided by the simulator's measured
over-prediction of duo, `duo_error`: the median over calibration runs of predicted / measured
speedup (`duo_prediction_error`); `duolab.lab.recommend_check` leaves the run it checks out of
that median, so no factor is checked against the run it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from duolab.latency_profile import LOOKUP_CAP, LatencyProfile, Workload
from duolab.paths import DATA_DIR
from duolab.predict.budget import predicted_tokens_per_s
from duolab.predict.regime import BUDGETS

RETRIEVAL_CAPS = (4, 8, 16)  # retrieval= settings predicted for sps and duo
NOT_PREDICTED = {"hf": "transformers' assisted generation runs its own draft loop and budget schedule, "
                       "which the latency profile does not measure"}
# The committed fair runs with a duo report (methods_duo.csv): the simulator's duo against measured.
CALIBRATION_RUNS = {"cpu": DATA_DIR / "results", "gpu": DATA_DIR / "results" / "gpu",
                    "slowdraft": DATA_DIR / "results" / "slowdraft"}


@dataclass
class Recommendation:
    """The fastest predicted setting for one pair on one machine, and the runner-up. `table`:
    predicted speedup over AR per task (rows, and "median") and setting (columns "ar", "sps γ=N",
    "pld γ=N", "duo", "sps+retrieval γ=N, retrieval=R", "duo+retrieval, retrieval=R")."""

    setting: str  # a column of `table`
    runner_up: str
    table: pd.DataFrame
    duo_error: float  # the simulator's duo over a real duo run's, measured
    duo_error_from: str  # which runs that factor comes from
    alpha: float  # median greedy agreement over the tasks
    machine: str
    not_predicted: dict[str, str] = field(default_factory=lambda: dict(NOT_PREDICTED))

    @property
    def method(self) -> str:
        return method_of(self.setting)

    @property
    def budget(self) -> int | str | None:
        """SpS's or PLD's γ, "auto" for duo, None for AR."""
        if " γ=" in self.setting:
            return int(self.setting.split(" γ=")[1].split(",")[0])
        return "auto" if self.method == "duo" else None

    @property
    def retrieval(self) -> int:
        """The setting's cap on retrieved tokens a round (0: none)."""
        return int(self.setting.split("retrieval=")[1]) if "retrieval=" in self.setting else 0

    @property
    def speedup(self) -> float:
        return float(self.table.loc["median", self.setting])

    @property
    def margin(self) -> float:
        """How much faster the pick is predicted than the runner-up (1.05: 5 % faster)."""
        return self.speedup / float(self.table.loc["median", self.runner_up])

    def best_of(self, method: str) -> str:
        """The best predicted setting of one family ("sps", "pld", "duo", "ar", "sps+retrieval",
        "duo+retrieval")."""
        cols = [c for c in self.table if family_of(c) == method]
        return max(cols, key=lambda c: self.table.loc["median", c])

    @property
    def sps_budget(self) -> int:
        return int(self.best_of("sps").split("=")[1])

    @property
    def sps_speedup(self) -> float:
        return float(self.table.loc["median", self.best_of("sps")])

    @property
    def duo_speedup(self) -> float:
        return float(self.table.loc["median", "duo"])

    @property
    def kwargs(self) -> dict:
        """What to pass to `generate`: `generate(pair, prompt, **rec.kwargs)`."""
        kwargs = {"method": self.method} if self.budget is None else {"method": self.method, "budget": self.budget}
        return {**kwargs, "retrieval": self.retrieval} if self.retrieval else kwargs

    def __str__(self) -> str:
        med = self.table.loc["median"]
        lines = [f"use {_describe(self.setting)}: predicted {self.speedup:.2f}x AR, median over "
                 f"{len(self.table) - 1} tasks; runner-up {_describe(self.runner_up)} at "
                 f"{med[self.runner_up]:.2f}x ({self.margin:.2f}x margin)"]
        for method in ("ar", "sps", "pld", "sps+retrieval", "duo+retrieval", "duo"):
            if any(family_of(c) == method for c in self.table):
                best = self.best_of(method)
                lines.append(f"  {_describe(best) if method != 'sps' else 'sps at its best ' + best[4:]}: "
                             f"{med[best]:.2f}x AR")
        lines[-1] += (f" (simulated {self.duo_speedup * self.duo_error:.2f}x, less the simulator's measured "
                      f"over-prediction of duo, {self.duo_error:.2f}x, from {self.duo_error_from})")
        lines += [f"  {m}: not predicted ({why})" for m, why in self.not_predicted.items()]
        lines.append(f"  median α {self.alpha:.2f}; on {self.machine}")
        return "\n".join(lines)

    __repr__ = __str__


def family_of(setting: str) -> str:
    """"sps" of "sps γ=3", "duo+retrieval" of "duo+retrieval, retrieval=8", ..."""
    return setting.split()[0].rstrip(",")


def method_of(setting: str) -> str:
    """The method a setting runs (`generate`'s method=): "sps" for sps+retrieval too."""
    return family_of(setting).split("+")[0]


def _describe(setting: str) -> str:
    described = {"ar": "ar (no drafting)", "duo": "duo with budget='auto'"}.get(
        setting, setting.replace(" γ=", " with budget="))
    return described.replace("sps+retrieval", "sps").replace("duo+retrieval,", "duo with budget='auto',")


def duo_prediction_error(runs: dict[str, Path] | None = None, leave_out: str | None = None) -> tuple[float, str]:
    """How much the simulator over-predicts duo's defaults: the median over the calibration runs'
    tasks of predicted / measured speedup (each run's methods_duo.csv, scripts/bench_methods.py),
    without the run `leave_out`; 1.0 without any. Returns (factor, which runs it comes from)."""
    runs = CALIBRATION_RUNS if runs is None else runs
    used = {name: path / "methods_duo.csv" for name, path in runs.items()
            if name != leave_out and (path / "methods_duo.csv").exists()}
    if not used:
        return 1.0, "no calibration run"
    ratios = pd.concat([pd.read_csv(p)["duo predicted/measured speedup"] for p in used.values()])
    return float(ratios.median()), f"runs {', '.join(used)}"


def predicted_speedups(profile: LatencyProfile, workloads: dict[str, Workload], budgets=BUDGETS,
                       duo_error: float = 1.0, pld_budgets=None, retrieval_caps=RETRIEVAL_CAPS) -> pd.DataFrame:
    """Predicted speedup over AR, per task (rows, then "median") and setting (columns); duo's
    divided by `duo_error`; PLD (at `pld_budgets`, default: `budgets` up to what the workloads
    recorded), SpS and duo with retrieval (at `retrieval_caps`) where the workloads recorded
    prompt lookups."""
    pld_budgets = [b for b in (budgets if pld_budgets is None else pld_budgets) if b <= LOOKUP_CAP]
    rows = {}
    for task, work in workloads.items():
        ar = predicted_tokens_per_s(profile, work, "ar", 1)
        row = {"ar": 1.0, **{f"sps γ={b}": predicted_tokens_per_s(profile, work, "sps", b) / ar for b in budgets}}
        if work.lookups:
            row.update({f"pld γ={b}": predicted_tokens_per_s(profile, work, "pld", b) / ar for b in pld_budgets})
        row["duo"] = predicted_tokens_per_s(profile, work, "duo", "auto") / ar / duo_error
        if work.lookups:
            for r in retrieval_caps:
                row.update({f"sps+retrieval γ={b}, retrieval={r}":
                            predicted_tokens_per_s(profile, work, "sps", b, retrieval=r) / ar for b in budgets})
                row[f"duo+retrieval, retrieval={r}"] = (
                    predicted_tokens_per_s(profile, work, "duo", "auto", retrieval=r) / ar / duo_error)
        rows[task] = row
    table = pd.DataFrame(rows).T
    table.loc["median"] = table.median()
    return table


def pick(table: pd.DataFrame) -> tuple[str, str]:
    """The best setting by median over tasks, and the best setting of another method (runner-up;
    sps+retrieval counts as sps, duo+retrieval as duo)."""
    med = table.loc["median"].sort_values(ascending=False, kind="stable")  # a tie: the earlier column
    best = med.index[0]
    runner_up = next((c for c in med.index if method_of(c) != method_of(best)), med.index[min(1, len(med) - 1)])
    return best, runner_up
