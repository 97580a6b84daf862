"""Hold `recommend` against committed round-robin runs (scripts/check_recommend.py): the run's
pair, profile and prompts in, the pick and the best measured setting out. duo's correction for the
simulator is fitted without the run it is checked on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from duolab.lab.bench import summarize
from duolab.latency_profile import LatencyProfile
from duolab.measure.recommend import recommend
from duolab.models import Pair, load_pair
from duolab.paths import DATA_DIR, REAL_DRAFT, REAL_TARGET, real_pair_built
from duolab.predict.recommendation import Recommendation, duo_prediction_error, pick

TOLERANCE = 0.05  # a pick within this of the best measured setting passes


@dataclass(frozen=True)
class CheckRun:
    """A committed round-robin run to hold recommend against."""

    raw: Path  # its methods_raw.csv
    profile: Path  # the machine's (and drafter's) latency profile
    pair: str  # "shipped" or "real"
    prompts: int  # per task, as the run used
    max_new_tokens: int


def recommend_check_runs() -> dict[str, CheckRun]:
    """Every committed run: the shipped pair on this CPU, on an H100 host and with the slow
    drafter; the real pair on this CPU and on an H200 host (two runs)."""
    results, real = DATA_DIR / "results", DATA_DIR / "real_pair"
    return {
        "cpu": CheckRun(results / "methods_raw.csv", DATA_DIR / "profiles" / "cpu-2core.json", "shipped", 5, 96),
        "gpu": CheckRun(results / "gpu" / "methods_raw.csv", DATA_DIR / "profiles" / "h100-fp32.json", "shipped", 3, 96),
        "slowdraft": CheckRun(results / "slowdraft" / "methods_raw.csv",
                              DATA_DIR / "profiles" / "cpu-2core-transformers-draft.json", "shipped", 3, 96),
        "real-pair cpu": CheckRun(results / "real_pair" / "methods_raw.csv", real / "profile-cpu-2core.json",
                                  "real", 3, 32),
        "real-pair h200 run1": CheckRun(real / "h200" / "run1_methods_raw.csv", real / "h200" / "profile_quick.json",
                                        "real", 2, 64),
        "real-pair h200 run2": CheckRun(real / "h200" / "run2_methods_raw.csv", real / "h200" / "profile_quick.json",
                                        "real", 3, 64),
    }


def measured_medians(raw: pd.DataFrame) -> pd.Series:
    """Median over tasks of each setting's measured speedup over AR, named as recommend's table
    names them ("sps γ=N", "pld γ=8", ...; other labels as they are)."""
    summary = summarize(raw)
    median = summary[summary.task == "median"].set_index("label").speedup
    return median.rename(lambda label: label.replace("sps:budget=", "sps γ=") if label.startswith("sps:budget=")
                         else "pld γ=8" if label == "pld" else label)


def check_run(pair: Pair, name: str, run: CheckRun) -> tuple[dict, Recommendation]:
    """recommend on one run's pair, profile and prompts, among the settings it measured; the pick
    against the best measured; duo's correction fitted without this run."""
    measured = measured_medians(pd.read_csv(run.raw))
    budgets = sorted(int(k.split("=")[1]) for k in measured.index if k.startswith("sps γ="))
    duo_error, source = duo_prediction_error(leave_out=name)
    rec = recommend(pair, LatencyProfile.load(run.profile), prompts_per_task=run.prompts,
                    max_new_tokens=run.max_new_tokens, budgets=budgets, duo_error=duo_error, duo_error_from=source,
                    pld_budgets=[8])  # the runs measured PLD at its default budget
    candidates = [c for c in rec.table if c in measured.index]  # PLD only at the budget it ran
    rec.table = rec.table[candidates]
    rec.setting, rec.runner_up = pick(rec.table)
    best = measured.idxmax()
    return ({"run": name, "profile": run.profile.name, "pick": rec.setting, "predicted speedup": rec.speedup,
             "pick measured speedup": measured[rec.setting], "runner-up": rec.runner_up,
             "margin": rec.margin, "best measured": best, "best measured speedup": measured[best],
             "gap": 1 - measured[rec.setting] / measured[best], "duo_error": duo_error,
             "duo_error from": source}, rec)


def runs_here() -> list[str]:
    """The names of the runs whose pair is on this machine (the real pair's need `make real-pair`)."""
    return [n for n, r in recommend_check_runs().items() if r.pair == "shipped" or real_pair_built()]


def check_runs(names: list[str]) -> Iterator[tuple[str, CheckRun, dict, Recommendation]]:
    """check_run on each named run, in order: (name, run, row, recommendation) as each is done.
    Each pair is loaded once, on the CPU, and closed when the runs are through."""
    runs = recommend_check_runs()
    pairs: dict[str, Pair] = {}
    try:
        for name in names:
            run = runs[name]
            if run.pair not in pairs:
                pairs[run.pair] = (load_pair(target_device="cpu") if run.pair == "shipped"
                                   else load_pair(REAL_TARGET, REAL_DRAFT, target_device="cpu"))
            row, rec = check_run(pairs[run.pair], name, run)
            yield name, run, row, rec
    finally:
        for pair in pairs.values():
            pair.close()


def within_tolerance(table: pd.DataFrame, tolerance: float = TOLERANCE) -> int:
    """How many runs' picks measured within `tolerance` of the best measured setting."""
    return len(table) - int((table.gap > tolerance).sum())
