"""Hold `duolab.recommend` against every committed round-robin run: is its pick within 5 % of the
best measured method?

    python scripts/check_recommend.py          # the real pair's runs need `make real-pair`

For each run it asks `recommend` for a setting, with the profile of that machine and drafter, the
run's pair, prompts and token count, among the settings the run measured (SpS at its budgets, PLD
at its default budget, AR, duo), and looks up what that setting measured: the median over tasks of
its speedup over AR (AR's total time over the method's, per task). The best is the highest such
median of anything the run measured (hf included, which recommend does not predict). duo's
correction for the simulator's over-prediction is fitted out of sample: on the calibration runs
other than the one checked (`duo_prediction_error(leave_out=run)`). The check is
duolab.lab.recommend_check. Writes data/results/recommend_checks.csv.
"""

from __future__ import annotations

import argparse

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.recommend_check import TOLERANCE, check_runs, runs_here, within_tolerance
from duolab.paths import DATA_DIR, results_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", help="run names (default: every run whose pair is here)")
    args = parser.parse_args()
    rows = []
    for name, run, row, rec in check_runs(args.runs or runs_here()):
        print(f"\n== {name} ({run.profile.name}, {run.prompts} prompts per task, {run.max_new_tokens} tokens)\n{rec}",
              flush=True)
        rows.append(row)
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "recommend_checks.csv")
    pd.set_option("display.width", 220, "display.max_columns", 20)
    print("\n", table.round(3).to_string(index=False))
    print(f"\nwithin {TOLERANCE:.0%} of the best measured method: {within_tolerance(table)} of {len(table)} runs")
    print(f"(data: {DATA_DIR / 'results'})")


if __name__ == "__main__":
    main()
