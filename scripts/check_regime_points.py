"""Measure the regime map's CPU points and check the simulator's duo-over-SpS prediction there.

    python scripts/check_regime_points.py             # 3 configurations, ~6 min on 2 cores
    python scripts/check_regime_points.py --prompts 1 --repeats 1   # smoke run

For each configuration of the default pair on this machine (fast draft runner; transformers
draft runner; fast target runner) it measures a LatencyProfile (saved to data/profiles/), the
workload (greedy agreement per position on held-out prompts), predicts SpS's and duo's (the
paper's schedule) best budgets and their tokens/s by replaying that agreement in the simulator,
then runs ar, sps and duo at the predicted budgets round-robin and compares the measured duo/SpS
ratio with the predicted one. Writes data/results/regime_checks.csv.
"""

from __future__ import annotations

import argparse
import statistics

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.bench import run_benchmark, summarize
from duolab.measure.profiling import measure_workload, profile_pair
from duolab.models import load_pair
from duolab.paths import output_dir, results_dir
from duolab.predict.budget import predict
from duolab.predict.regime import BUDGETS, SCHEDULES, regime_point
from duolab.prompts import TASKS, load_prompts

CONFIGS = {
    "cpu-2core": {},
    "cpu-2core-transformers-draft": {"draft_runner": "transformers"},
    "cpu-2core-fast-target": {"target_runner": "fast"},
}


def check(name: str, options: dict, prompts: int, repeats: int, new_tokens: int) -> dict:
    with load_pair(**options) as pair:
        print(pair, flush=True)
        profile = profile_pair(pair)
        profile.save(output_dir("profiles") / f"{name}.json")
        texts = [p for t in TASKS for p in load_prompts(t, prompts)]
        workload = measure_workload(pair, texts, new_tokens)
        # each method's best budget from its own grid (the same grids the regime map uses)
        # duo runs the paper's schedule, as in the regime map's "paper" panels
        best = {m: predict(profile, workload, (m,), budgets, **opts).sort_values("predicted_tokens_per_s").iloc[-1]
                for m, budgets, opts in (("sps", BUDGETS, {}), ("duo", BUDGETS, SCHEDULES["paper"]))}
        b_sps, b_duo = int(best["sps"].budget), int(best["duo"].budget)
        methods = {"ar": {"method": "ar"}, "sps": {"method": "sps", "budget": b_sps},
                   "duo": {"method": "duo", "budget": b_duo, **SCHEDULES["paper"]}}
        raw = run_benchmark(pair, methods, TASKS, prompts, new_tokens, repeats, {"seed": 0}, progress=False)
    per_task = summarize(raw)
    per_task = per_task[per_task.task != "median"].pivot(index="task", columns="label", values="tokens_per_s")
    measured = statistics.median(per_task["duo"] / per_task["sps"])
    predicted = float(best["duo"].predicted_tokens_per_s / best["sps"].predicted_tokens_per_s)
    ratio, slope = regime_point(profile)
    return {"point": name, "cost_ratio": ratio, "slope": slope, "alpha": workload.alpha,
            "sps_budget": b_sps, "duo_budget": b_duo, "predicted_duo_over_sps": predicted,
            "measured_duo_over_sps": measured, "error": predicted / measured - 1,
            "measured_sps_speedup": statistics.median(per_task["sps"] / per_task["ar"]),
            "measured_duo_speedup": statistics.median(per_task["duo"] / per_task["ar"]),
            "all_equal_ar": bool(raw.matches_ar.all())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--prompts", type=int, default=2, help="prompts per task")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    args = ap.parse_args()
    rows = [check(n, CONFIGS[n], args.prompts, args.repeats, args.max_new_tokens) for n in args.configs]
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "regime_checks.csv")
    pd.set_option("display.width", 200, "display.max_columns", 20, "display.precision", 3)
    print(table.to_string(index=False))
    print(f"within 15%: {int((table.error.abs() <= 0.15).sum())} of {len(table)}")


if __name__ == "__main__":
    main()
