"""Enter in data/artefacts.json the artefacts made before provenance was recorded (2026-12-01).

    python scripts/backfill_provenance.py

Only files made by the shipped pair qualify: the commit that last wrote the file must descend from
the commit that last changed data/models/ (the pair's files are unchanged since, so the pair's
content hash then is today's). Commit and date are that commit's; the machine is what the run's
own record says (the GPU run's log), else "not recorded"; each entry carries a note that says it
was backfilled. Files that a run can remake on this machine (figures, profiles and tables of the
notebooks and cheap scripts) are remade instead, never backfilled.
"""

from __future__ import annotations

import subprocess

from duolab.artefacts import read_manifest, record, shipped_pair_hash
from duolab.paths import DATA_DIR, REPO_DIR

CPU = {"cpu": "not recorded", "cores": 2, "gpu": "none", "torch": "not recorded"}
# data/results/gpu/methods_log.txt, its first lines
H100 = {"cpu": "not recorded", "cores": 16, "gpu": "NVIDIA H100 80GB HBM3", "torch": "2.11.0+cu130"}
BENCH = "scripts/bench_methods.py"
RUNS = {  # file -> (producer, machine)
    "data/results/duo_bounds.csv": ("scripts/duo_bounds.py", CPU),
    "data/results/duo_schedules_simulated.csv": ("scripts/simulate_duo_schedules.py", CPU),
    "data/results/outcome_coverage.csv": ("scripts/outcome_coverage.py", CPU),
    "data/results/pair_quality.csv": ("scripts/report_pair.py", CPU),
    "data/results/soak_duo.csv": ("scripts/soak_duo.py", CPU),
    "data/results/training_curves.csv": ("recipe/plot_training_curves.py", CPU),
    "figures/training_loss.png": ("recipe/plot_training_curves.py", CPU),
    "figures/training_loss.svg": ("recipe/plot_training_curves.py", CPU),
    "data/profiles/h100-fp32.json": (BENCH, H100),
    "data/results/gpu/methods_log.txt": (BENCH, H100),
    **{f"data/results/{run}methods_{part}.csv": (BENCH, H100 if run == "gpu/" else CPU)
       for run in ("", "gpu/", "slowdraft/") for part in ("raw", "summary", "fair", "duo")},
}


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> None:
    pair_commit = git("log", "-1", "--format=%H", "--", "data/models")
    known = read_manifest(DATA_DIR / "artefacts.json")
    for key, (producer, machine) in RUNS.items():
        if key in known:
            print(f"{key}: already recorded")
            continue
        commit, date = git("log", "-1", "--format=%H %cI", "--", key).split()
        ancestor = subprocess.run(["git", "-C", str(REPO_DIR), "merge-base", "--is-ancestor", pair_commit, commit])
        if ancestor.returncode != 0:
            print(f"{key}: made before the shipped pair ({commit[:12]}): not backfilled")
            continue
        record(REPO_DIR / key, producer=producer, pair=shipped_pair_hash(), commit=commit[:12], date=date,
               machine=machine, mode="full",
               note="backfilled 2026-12-01 from git history: made before provenance was recorded")
        print(f"{key}: {commit[:12]} {date} {producer}")


if __name__ == "__main__":
    main()
