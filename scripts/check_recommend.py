"""Hold `duolab.recommend` against the committed fair runs: is its pick within 5 % of the best?

    python scripts/check_recommend.py          # ~2 min on 2 cores

For each fair run (this CPU: data/results; the H100 host: data/results/gpu; the slow transformers
drafter: data/results/slowdraft) it asks `recommend` for a method and budget, with the profile of
that machine and drafter and the run's prompts, among the SpS budgets the run measured, and looks
up what that setting measured: the median over tasks of its speedup over AR, as the fair table
reports it. The best is the highest such median of any SpS budget or duo's defaults in the run.
Writes data/results/recommend_checks.csv.
"""

from __future__ import annotations

import pandas as pd

from duolab.artefacts import save_table
from duolab.latency_profile import LatencyProfile
from duolab.models import load_pair
from duolab.paths import DATA_DIR, results_dir
from duolab.timing.recommendation import duo_prediction_error, recommend

RUNS = {  # run folder under data/results: (profile of its machine and drafter, prompts per task)
    "": ("cpu-2core.json", 5),
    "gpu": ("h100-fp32.json", 3),
    "slowdraft": ("cpu-2core-transformers-draft.json", 3),
}
TOLERANCE = 0.05


def measured_medians(run: str) -> pd.Series:
    """Median speedup over the tasks per setting ("sps γ=N", "duo") of one committed fair run."""
    summary = pd.read_csv(DATA_DIR / "results" / run / "methods_summary.csv")
    median = summary[summary.task == "median"].set_index("label").speedup
    sps = {f"sps γ={label.split('=')[1]}": v for label, v in median.items() if label.startswith("sps:budget=")}
    return pd.Series({**sps, "duo": median["duo"]})


def check(pair, run: str, profile_name: str, prompts: int, duo_error: float) -> dict:
    measured = measured_medians(run)
    budgets = sorted(int(k.split("=")[1]) for k in measured.index if k.startswith("sps"))
    rec = recommend(pair, LatencyProfile.load(DATA_DIR / "profiles" / profile_name),
                    prompts_per_task=prompts, budgets=budgets, duo_error=duo_error)
    print(f"\n== {run or 'cpu'} ({profile_name}, {prompts} prompts per task)\n{rec}", flush=True)
    pick = "duo" if rec.method == "duo" else f"sps γ={rec.budget}"
    best = measured.idxmax()
    return {"run": run or "cpu", "profile": profile_name, "pick": pick, "predicted speedup": rec.speedup,
            "pick measured speedup": measured[pick], "best measured": best,
            "best measured speedup": measured[best], "gap": 1 - measured[pick] / measured[best],
            "predicted sps best": rec.sps_speedup, "predicted duo": rec.duo_speedup, "duo_error": duo_error}


def main() -> None:
    duo_error = duo_prediction_error()  # from the CPU fair run (data/results/methods_duo.csv)
    with load_pair(target_device="cpu") as pair:  # greedy agreement: the same on every machine
        rows = [check(pair, run, name, prompts, duo_error) for run, (name, prompts) in RUNS.items()]
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "recommend_checks.csv")
    pd.set_option("display.width", 200, "display.max_columns", 20)
    print("\n", table.round(3).to_string(index=False))
    bad = table[table.gap > TOLERANCE]
    print(f"\nwithin {TOLERANCE:.0%} of the best measured setting: {len(table) - len(bad)} of {len(table)} runs")


if __name__ == "__main__":
    main()
