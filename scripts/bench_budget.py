"""Check the budget model against measurement, per task, on the default pair.

    python scripts/bench_budget.py [--profile data/profiles/cpu-2core.json]

For every task: measure the greedy acceptance alpha on its prompts; predict tokens/s for AR, SpS
and duo at every budget of the sweep from the latency profile; measure the same configurations
(round-robin, median over repeats); report the auto-chosen budget, the best measured budget, the
paper's equal-time budget, and predicted vs measured throughput.
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
from duolab.lab.bench import run_benchmark, summarize
from duolab.models import load_pair
from duolab.paths import DATA_DIR, results_dir
from duolab.prompts import TASKS, load_prompts
from duolab.timing.budget import choose_budget, equal_time_budget, predict
from duolab.timing.latency_profile import LatencyProfile
from duolab.timing.profiling import measure_workload, profile_pair

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
        methods = {"ar": {"method": "ar"},
                   **{f"sps:{b}": {"method": "sps", "budget": b} for b in SPS_BUDGETS},
                   **{f"duo:{b}": {"method": "duo", "budget": b} for b in DUO_BUDGETS}}
        for task in args.tasks:
            if args.profile_per_task:
                profile = profile_pair(pair, quick=True)
            prompts = load_prompts(task, args.prompts)
            workload = measure_workload(pair, prompts, args.max_new_tokens)
            alpha = workload.alpha
            raw = run_benchmark(pair, methods, [task], args.prompts, args.max_new_tokens,
                                args.repeats, progress=False)
            summary = summarize(raw)
            summary = summary[summary.task == task].set_index("label")
            for method, budgets in (("ar", [0]), ("sps", SPS_BUDGETS), ("duo", DUO_BUDGETS)):
                table = predict(profile, workload, [method], budgets)
                for b, predicted in zip(table.budget, table.predicted_tokens_per_s, strict=True):
                    measured = summary.loc["ar" if method == "ar" else f"{method}:{b}", "tokens_per_s"]
                    pred_rows.append({"task": task, "method": method, "budget": b, "alpha": alpha,
                                      "predicted_tokens_per_s": predicted,
                                      "measured_tokens_per_s": measured,
                                      "error": predicted / measured - 1})
            measured_duo = {b: summary.loc[f"duo:{b}", "tokens_per_s"] for b in DUO_BUDGETS}
            best = max(measured_duo, key=measured_duo.get)
            auto = choose_budget(profile, workload, "duo", DUO_BUDGETS)
            equal = equal_time_budget(profile, DUO_BUDGETS)
            choice_rows.append({"task": task, "alpha": alpha, "target_ms_1": profile.target_ms(1),
                                "auto_budget": auto,
                                "best_budget": best, "equal_time_budget": equal,
                                "tokens_per_s_auto": measured_duo[auto],
                                "tokens_per_s_best": measured_duo[best],
                                "tokens_per_s_equal_time": measured_duo[equal],
                                "auto_vs_best": measured_duo[auto] / measured_duo[best]})
            print(pd.DataFrame(choice_rows[-1:]).to_string(index=False, float_format="%.3f"),
                  flush=True)

    preds, choices = pd.DataFrame(pred_rows), pd.DataFrame(choice_rows)
    ar = preds[preds.method == "ar"].set_index("task").error
    preds["error_ar_calibrated"] = (1 + preds.error) / (1 + preds.task.map(ar)) - 1
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
