"""The H100 measurement through the budget model: the budget `budget="auto"` picks there, how far
it is from the simulated best, and the simulator's speedups against the measured ones.

    python scripts/h100_budget.py                   # tables from the files below (no models, seconds)
    python scripts/h100_budget.py --import-shared   # rebuild data/earlier_pairs/stage2-target-h100/h100-host.json from
                                                    # ../shared/measurements/h100-default-pair.json
    python scripts/h100_budget.py --measure-workload --target DIR --draft DIR   # re-measure agreement

Inputs: data/earlier_pairs/stage2-target-h100/h100-host.json (the H100 latency profile; its notes carry the measured runs)
and data/earlier_pairs/stage2-target-h100/h100_workload.csv (per prompt of the H100 run -- 2 per task, 96 new tokens,
greedy -- whether the draft's greedy token equals the target's at each new position, measured on
the CPU in fp32 with the pair the H100 run used, so the simulator replays acceptance exactly).
Writes h100_budget.csv and h100_sim_vs_measured.csv beside them: all of it is the previous default
pair's (the folder's README says so). The analysis is duolab.lab.h100_budget.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab import h100_budget as h100
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR, REPO_DIR

SHARED = REPO_DIR.parent / "shared" / "measurements" / "h100-default-pair.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--import-shared", nargs="?", const=str(SHARED), default=None, metavar="JSON",
                    help=f"rebuild {h100.PROFILE.relative_to(REPO_DIR)} from the shared measurement")
    ap.add_argument("--measure-workload", action="store_true",
                    help="re-measure the run's greedy agreement (loads the pair on the CPU)")
    ap.add_argument("--target", default=str(DATA_DIR / "models" / "target"),
                    help="with --measure-workload: the target the H100 run used")
    ap.add_argument("--draft", default=str(DATA_DIR / "models" / "draft"))
    args = ap.parse_args()
    if args.import_shared:
        h100.import_shared(Path(args.import_shared)).save(h100.PROFILE)
        print(f"wrote {h100.PROFILE}")
    if args.measure_workload:
        h100.measure_workload_csv(args.target, args.draft, h100.WORKLOAD)
        print(f"wrote {h100.WORKLOAD}")

    profile = LatencyProfile.load(h100.PROFILE)
    for problem in profile.check():
        print("profile inconsistency:", problem)
    workload = h100.load_workload(h100.WORKLOAD)
    auto = h100.run_budget(profile, workload)
    pd.set_option("display.width", 200, "display.max_rows", 100)

    choice = h100.budget_choice(profile, workload)
    save_table(choice, h100.HERE / "h100_budget.csv")
    print(f"budget choice on the H100 profile (T_t(1) {profile.target_ms(1):.2f} ms, T_t(64) "
          f"{profile.target_ms(64):.2f} ms; worker draft {profile.draft_ms_per_token:.3f} ms/token "
          f"+ {profile.draft_overhead_ms:.2f} ms/request; auto's workload alpha "
          f"{h100.choice_workload(workload).alpha:.3f})")
    print(choice.to_string(index=False, float_format="%.3f"))
    worst = choice.groupby("method").chosen_vs_best.min()
    print("worst chosen/best per method:", worst.round(3).to_dict())

    table = h100.sim_vs_measured(profile, workload, auto)
    save_table(table, h100.HERE / "h100_sim_vs_measured.csv")
    print(f"\nsimulated vs measured speedup over AR (duo_auto simulated at auto's pick, budget {auto})")
    print(h100.sim_vs_measured_wide(table).to_string(float_format="%.2f"))
    print(f"AR tokens/s: simulated {h100.simulated_ar_tokens_per_s(profile, workload):.1f}; "
          f"measured {h100.RUN_AR_TOKENS_PER_S}")


if __name__ == "__main__":
    main()
