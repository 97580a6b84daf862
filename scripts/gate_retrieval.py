"""The gate before grafted retrieval's worker side (duolab.lab.retrieval_gate): simulated, on the
real pair's per-task workloads, on its CPU profile and on the H200 host's.

    python scripts/gate_retrieval.py              # measures the workloads once (~3 min), then simulates
    python scripts/gate_retrieval.py --remeasure  # measures them again

The workloads (4 prompts per task: the first two and the last two, chat template, 96 new tokens)
are kept in data/real_pair/gate_workloads.json; the tables go to
data/results/retrieval_gate_<profile>.csv. Simulated, not measured. Needs `make real-pair` to
measure.
"""

import argparse

from duolab.artefacts import real_pair_hash, save_table
from duolab.lab.retrieval_gate import (
    gate_table,
    gate_verdict,
    load_workloads,
    measure_task_workloads,
    save_workloads,
)
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR, REAL_DRAFT, REAL_TARGET, results_dir

PROFILES = {"cpu-2core": DATA_DIR / "real_pair" / "profile-cpu-2core.json",
            "h200": DATA_DIR / "real_pair" / "h200" / "profile_quick.json"}
WORKLOADS = DATA_DIR / "real_pair" / "gate_workloads.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--remeasure", action="store_true", help="measure the workloads again")
    ap.add_argument("--per-task", type=int, default=4, help="prompts per task (first half, last half)")
    args = ap.parse_args()
    if args.remeasure or not WORKLOADS.exists():
        from duolab import load_pair

        with load_pair(REAL_TARGET, REAL_DRAFT) as pair:
            save_workloads(measure_task_workloads(pair, args.per_task), WORKLOADS)
    workloads = load_workloads(WORKLOADS)
    tables = {name: gate_table(LatencyProfile.load(path), workloads) for name, path in PROFILES.items()}
    for name, table in tables.items():
        print(f"== {name} (simulated speedup over AR, best setting per task)")
        print(table.round(3).to_string())
        save_table(table.reset_index(names="task"), results_dir() / f"retrieval_gate_{name}.csv", pair=real_pair_hash())
    print(gate_verdict(tables))


if __name__ == "__main__":
    main()
