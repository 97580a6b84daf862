"""How much can duo's schedule gain over SpS at best? Simulated per task, for saved profiles.

    python scripts/duo_bounds.py                                  # this CPU and the measured H100 host
    python scripts/duo_bounds.py --profiles cpu-2core.json --prompts 10

Each task's greedy agreement (draft argmax == target argmax, per position of the target's own
greedy continuation; measured here, in fp32) is replayed exactly by the simulator for SpS at its
best budget (1-32), duo's defaults and the paper's schedule, on each profile as measured and without
overheads (perfect overlap, free channel, sync and bookkeeping; budget.schedule_bounds). duo's
outcome chains catch `--outcome-hit` of rejections (measured: 0.11-0.33), and 1.0 as the limit
where every rejection that a chain was drafted for is caught (duolab.lab.duo_bounds). Writes
data/results/duo_bounds.csv.
"""

from __future__ import annotations

import argparse

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.duo_bounds import bounds_report, bounds_table, saved_profiles
from duolab.models import load_pair
from duolab.paths import results_dir
from duolab.predict.simulate import OUTCOME_HIT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profiles", nargs="+", default=["cpu-2core.json", "h100-fp32.json"],
                    help="files under data/profiles/")
    ap.add_argument("--prompts", type=int, default=5, help="prompts per task")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--outcome-hit", type=float, default=OUTCOME_HIT)
    args = ap.parse_args()
    if not 0 <= args.outcome_hit <= 1:
        raise ValueError(f"--outcome-hit must be in [0, 1], got {args.outcome_hit}")
    profiles = saved_profiles(args.profiles)
    with load_pair(target_device="cpu") as pair:
        table = bounds_table(pair, profiles, args.prompts, args.max_new_tokens, args.outcome_hit)
    save_table(table, results_dir() / "duo_bounds.csv")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    print(bounds_report(table, args.outcome_hit))


if __name__ == "__main__":
    main()
