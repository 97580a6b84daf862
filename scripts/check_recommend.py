"""Hold `duolab.recommend` against every committed round-robin run: is its pick within 5 % of the
best measured method?

    python scripts/check_recommend.py          # the real pair's runs need `make real-pair`

For each run it asks `recommend` for a setting, with the profile of that machine and drafter, the
run's pair, prompts and token count, among the settings the run measured (SpS at its budgets, PLD
at its default budget, AR, duo), and looks up what that setting measured: the median over tasks of
its speedup over AR (AR's total time over the method's, per task). The best is the highest such
median of anything the run measured (hf included, which recommend does not predict). duo's
correction for the simulator's over-prediction is fitted out of sample: on the calibration runs
other than the one checked (`duo_prediction_error(leave_out=run)`). Writes
data/results/recommend_checks.csv.
"""

from __future__ import annotations

import argparse

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.recommend_check import check_run, recommend_check_runs
from duolab.paths import DATA_DIR, REAL_DRAFT, REAL_TARGET, real_pair_built, results_dir

TOLERANCE = 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", help="run names (default: every run whose pair is here)")
    args = parser.parse_args()
    from duolab.models import load_pair

    runs = recommend_check_runs()
    names = args.runs or [n for n, r in runs.items() if r.pair == "shipped" or real_pair_built()]
    rows, pairs = [], {}
    for name in names:
        run = runs[name]
        if run.pair not in pairs:
            pairs[run.pair] = (load_pair(target_device="cpu") if run.pair == "shipped"
                               else load_pair(REAL_TARGET, REAL_DRAFT, target_device="cpu"))
        row, rec = check_run(pairs[run.pair], name, run)
        print(f"\n== {name} ({run.profile.name}, {run.prompts} prompts per task, {run.max_new_tokens} tokens)\n{rec}",
              flush=True)
        rows.append(row)
    for pair in pairs.values():
        pair.close()
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "recommend_checks.csv")
    pd.set_option("display.width", 220, "display.max_columns", 20)
    print("\n", table.round(3).to_string(index=False))
    bad = table[table.gap > TOLERANCE]
    print(f"\nwithin {TOLERANCE:.0%} of the best measured method: {len(table) - len(bad)} of {len(table)} runs")
    print(f"(data: {DATA_DIR / 'results'})")


if __name__ == "__main__":
    main()
