"""Measure the regime map's CPU points and check the simulator's duo-over-SpS prediction there.

    python scripts/check_regime_points.py             # 3 configurations, ~6 min on 2 cores
    python scripts/check_regime_points.py --prompts 1 --repeats 1   # smoke run

For each configuration of the default pair on this machine (fast draft runner; transformers
draft runner; fast target runner) it measures a LatencyProfile (saved to data/profiles/), the
workload (greedy agreement per position on held-out prompts), predicts SpS's and duo's (the
paper's schedule) best budgets and their tokens/s by replaying that agreement in the simulator,
then runs ar, sps and duo at the predicted budgets round-robin and compares the measured duo/SpS
ratio with the predicted one (duolab.lab.regime_check). Writes data/results/regime_checks.csv.
"""

from __future__ import annotations

import argparse

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.regime_check import CONFIGS, check_point, within_tolerance
from duolab.models import load_pair
from duolab.paths import output_dir, results_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--prompts", type=int, default=2, help="prompts per task")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    args = ap.parse_args()
    rows = []
    for name in args.configs:
        with load_pair(**CONFIGS[name]) as pair:
            print(pair, flush=True)
            rows.append(check_point(pair, name, args.prompts, args.repeats, args.max_new_tokens,
                                    profile_path=output_dir("profiles") / f"{name}.json"))
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "regime_checks.csv")
    pd.set_option("display.width", 200, "display.max_columns", 20, "display.precision", 3)
    print(table.to_string(index=False))
    print(f"within 15%: {within_tolerance(table)} of {len(table)}")


if __name__ == "__main__":
    main()
