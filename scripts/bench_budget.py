"""Check the budget model against measurement, per task, on the default pair.

    python scripts/bench_budget.py [--profile data/profiles/cpu-2core.json]

For every task: measure the greedy acceptance alpha on its prompts; predict tokens/s for AR, SpS
and duo at every budget of the sweep from the latency profile; measure the same configurations
(round-robin, median over repeats); report the auto-chosen budget, the best measured budget, the
paper's equal-time budget, and predicted vs measured throughput (duolab.lab.bench.budget_check).
The profile is measured at the start of the same run (this machine's speed drifts by 10-20%
over minutes). `error_ar_calibrated` divides out that drift: the profile's time unit is
rescaled per task so that AR's prediction matches AR's measurement, and SpS/duo are then
predicted out of sample.
Writes data/results/budget_prediction.csv and data/results/budget_choice.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.bench import budget_check, calibrated_on_ar
from duolab.latency_profile import LatencyProfile
from duolab.measure.profiling import profile_pair
from duolab.models import load_pair
from duolab.paths import DATA_DIR, results_dir
from duolab.prompts import TASKS

DUO_BUDGETS = [1, 2, 3, 4, 6, 8, 10, 12, 16, 24]
SPS_BUDGETS = [2, 4, 8]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profile", default=str(DATA_DIR / "profiles" / "cpu-2core.json"))
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--saved-profile", action="store_true",
                    help="use the saved --profile instead of measuring one at the start of the run")
    ap.add_argument("--profile-per-task", action="store_true",
                    help="measure a quick profile right before each task")
    args = ap.parse_args()

    pred_rows, choice_rows = [], []
    with load_pair() as pair:
        profile = (LatencyProfile.load(args.profile) if args.saved_profile and Path(args.profile).exists()
                   else profile_pair(pair))
        for task in args.tasks:
            if args.profile_per_task:
                profile = profile_pair(pair, quick=True)
            rows, choice = budget_check(pair, profile, task, args.prompts, args.max_new_tokens, args.repeats,
                                        SPS_BUDGETS, DUO_BUDGETS)
            pred_rows += rows
            choice_rows.append(choice)
            print(pd.DataFrame(choice_rows[-1:]).to_string(index=False, float_format="%.3f"), flush=True)

    preds, choices = calibrated_on_ar(pd.DataFrame(pred_rows)), pd.DataFrame(choice_rows)
    save_table(preds, results_dir() / "budget_prediction.csv")
    save_table(choices, results_dir() / "budget_choice.csv")
    pd.set_option("display.width", 200)
    print("\npredicted vs measured tokens/s")
    print(preds.to_string(index=False, float_format="%.3f"))
    print("\nbudget choice per task")
    print(choices.to_string(index=False, float_format="%.3f"))
    within = (preds.error.abs() <= 0.15).mean()
    print(f"\npredictions within 15%: {100 * within:.0f}% of {len(preds)}; "
          f"median |error| {100 * preds.error.abs().median():.1f}%")
    cal = preds[preds.method != "ar"].error_ar_calibrated.abs()
    print(f"sps/duo after calibrating the time unit on AR: {100 * (cal <= 0.15).mean():.0f}% "
          f"within 15%, median |error| {100 * cal.median():.1f}%")
    print(f"auto within 5% of best on {int((choices.auto_vs_best >= 0.95).sum())} of "
          f"{len(choices)} tasks")


if __name__ == "__main__":
    main()
