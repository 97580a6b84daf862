"""How much can duo's schedule gain over SpS at best? Simulated per task, for saved profiles.

    python scripts/duo_bounds.py                                  # this CPU and the measured H100 host
    python scripts/duo_bounds.py --profiles cpu-2core.json --prompts 10

Each task's greedy agreement (draft argmax == target argmax, per position of the target's own
greedy continuation; measured here, in fp32) is replayed exactly by the simulator for SpS at its
best budget (1-32), duo's defaults and the paper's schedule, on each profile as measured and without
overheads (perfect overlap, free channel, sync and bookkeeping; budget.schedule_bounds). duo's
outcome chains catch `--outcome-hit` of rejections (measured: 0.11-0.33), and 1.0 as the limit
where every rejection that a chain was drafted for is caught. Writes data/results/duo_bounds.csv.
"""

from __future__ import annotations

import argparse

import pandas as pd

from duolab.artefacts import save_table
from duolab.latency_profile import LatencyProfile
from duolab.measure.profiling import measure_workload
from duolab.models import load_pair
from duolab.paths import DATA_DIR, results_dir
from duolab.predict.budget import predicted_tokens_per_s, schedule_bounds
from duolab.predict.simulate import OUTCOME_HIT
from duolab.prompts import TASKS, load_prompts


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
    profiles = {name: LatencyProfile.load(DATA_DIR / "profiles" / name) for name in args.profiles}
    rows = []
    with load_pair(target_device="cpu") as pair:
        for task in TASKS:
            work = measure_workload(pair, load_prompts(task, args.prompts), args.max_new_tokens)
            for name, profile in profiles.items():
                row = {"profile": name, "task": task, "alpha": work.alpha,
                       **schedule_bounds(profile, work, args.outcome_hit)}
                # the same SpS bound; duo with every chain caught (no second SpS sweep)
                free = profile.without_overheads()
                caught = predicted_tokens_per_s(free, work, "duo", "auto", outcome_hit=1.0)
                row["duo / sps (free, every chain caught)"] = (
                    caught / predicted_tokens_per_s(free, work, "ar", 1) / row["sps (free)"])
                rows.append(row)
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "duo_bounds.csv")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    cols = ["task", "alpha", "sps best γ (free)", "sps (free)", "duo (free)", "duo / sps (free)",
            "duo / sps (free, every chain caught)", "sps (measured)", "duo (measured)", "duo / sps (measured)"]
    for name, t in table.groupby("profile", sort=False):
        print(f"\n{name}: simulated speedup over AR, replayed greedy agreement, outcome hit {args.outcome_hit}")
        print(t[cols].round(3).to_string(index=False))
        print("median duo / sps:", t[[c for c in cols if c.startswith("duo / sps")]].median().round(3).to_dict())


if __name__ == "__main__":
    main()
