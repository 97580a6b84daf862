"""The gate of the outcome-cache bet: does a pool of W draft workers drafting rejection outcomes as
batched branches lift duo to 1.1x a fair SpS? Simulated, per task and W, before anything is built.

    python scripts/gate_outcome_cache.py      # ~2 min on 2 cores (the agreement is measured here)

Each task's greedy agreement (the shipped pair, fp32, `--prompts` prompts of `--max-new-tokens`)
is replayed by the simulator on each profile for SpS at its best budget (1-16), duo's defaults as
they are (outcome chains one at a time, `--outcome-hit` of rejections caught where a chain was
drafted) and duo with an outcome cache of W workers (duolab.predict.outcome_cache: the task's
measured coverage of the target's corrections by the draft's F best guesses, outcome_coverage.csv;
t_m / t_d as measured on this CPU, branch_cost.csv, applied to each profile's t_d). SpS drafts at
the cheaper of the profile's two draft costs (in process, or the worker's runner): the previous
pair's H100 host profile timed SpS's draft at torch's default thread count, 2.73 ms a token
against the worker's 0.415, a handicap a fair SpS does not have. The gate: stop
when the median over tasks of duo / SpS stays below 1.1 on both H100 profiles for every W <= 15.
Writes data/results/outcome_cache_gate.csv.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import pandas as pd

from duolab.artefacts import EARLIER_PAIRS_DIR, save_table
from duolab.latency_profile import LatencyProfile
from duolab.measure.profiling import measure_workload
from duolab.models import load_pair
from duolab.paths import DATA_DIR, results_dir
from duolab.predict.budget import predicted_tokens_per_s
from duolab.predict.outcome_cache import OutcomeCache
from duolab.predict.simulate import OUTCOME_HIT
from duolab.prompts import TASKS, load_prompts

PROFILES = {"h100-fp32": DATA_DIR / "profiles" / "h100-fp32.json",
            "h100-host (previous pair)": EARLIER_PAIRS_DIR / "stage2-target-h100" / "h100-host.json",
            "cpu-2core": DATA_DIR / "profiles" / "cpu-2core.json"}
WORKERS = (1, 2, 4, 8, 15)
GUESSES = {1: "top 2", 2: "top 3", 4: "top 5", 8: "top 9", 16: "top 17"}  # F next-best = top F + 1
GATE = 1.1


def coverage_by_task() -> dict[str, dict[int, float]]:
    table = pd.read_csv(DATA_DIR / "results" / "outcome_coverage.csv").set_index("task")
    return {task: {f: float(table.loc[task, col]) for f, col in GUESSES.items()} for task in table.index}


def branch_cost_ratio() -> float:
    """t_m / t_d measured on this CPU (scripts/measure_branch_cost.py)."""
    row = pd.read_csv(DATA_DIR / "results" / "branch_cost.csv").iloc[0]
    return float(row.t_m_ms / row.t_d_ms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=3, help="prompts per task")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--outcome-hit", type=float, default=OUTCOME_HIT)
    ap.add_argument("--chain-lengths", type=int, nargs="+", default=[0, 8, 16],
                    help="tokens per cached chain (0: duo's outcome-chain length)")
    args = ap.parse_args()
    coverage, ratio = coverage_by_task(), branch_cost_ratio()
    with load_pair(target_device="cpu") as pair:
        work = {task: measure_workload(pair, load_prompts(task, args.prompts), args.max_new_tokens)
                for task in TASKS}
    rows = []
    for name, path in PROFILES.items():
        profile = LatencyProfile.load(path)
        profile = replace(profile, sps_draft_ms_per_token=min(profile.sps_draft_ms_per_token,
                                                              profile.draft_ms_per_token))
        t_m = ratio * profile.draft_ms_per_token
        for task, w in work.items():
            sps = max(predicted_tokens_per_s(profile, w, "sps", b) for b in range(1, 17))
            duo = predicted_tokens_per_s(profile, w, "duo", "auto", outcome_hit=args.outcome_hit)
            row = {"profile": name, "task": task, "alpha": w.alpha, "t_m_ms": t_m, "duo / sps (today)": duo / sps}
            for length in args.chain_lengths:
                for workers in WORKERS:
                    cache = OutcomeCache(workers, t_m, coverage[task], length or None)
                    duo_cached = predicted_tokens_per_s(profile, w, "duo", "auto", cache=cache)
                    rows.append({**row, "chain_length": length or "duo's", "workers": workers,
                                 "duo / sps (cache)": duo_cached / sps})
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "outcome_cache_gate.csv")
    pd.set_option("display.width", 200)
    for name, t in table.groupby("profile", sort=False):
        print(f"\n{name}: simulated duo / SpS (best γ), t_m = {t.t_m_ms.iloc[0]:.3f} ms; today "
              f"{t.drop_duplicates('task')['duo / sps (today)'].median():.3f} (median over tasks)")
        wide = t.pivot_table(index=["chain_length", "task"], columns="workers", values="duo / sps (cache)",
                             sort=False)
        print(wide.round(3).to_string())
        print("median over tasks:\n" + wide.groupby(level=0, sort=False).median().round(3).to_string())
    medians = (table[table.profile.str.startswith("h100")]
               .groupby(["profile", "chain_length", "workers"], sort=False)["duo / sps (cache)"].median())
    print(f"\ngate: median duo / SpS >= {GATE} on an H100 profile for some W <= 15 and chain length: "
          f"{bool((medians >= GATE).any())} (best {medians.max():.3f}: profile, chain length, W = {tuple(map(str, medians.idxmax()))})")


if __name__ == "__main__":
    main()
