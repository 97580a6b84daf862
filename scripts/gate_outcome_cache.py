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
The study is duolab.lab.outcome_study. Writes data/results/outcome_cache_gate.csv.
"""

from __future__ import annotations

import argparse

import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.outcome_study import (
    branch_cost_ratio,
    coverage_by_task,
    gate_report,
    gate_table,
    task_workloads,
)
from duolab.models import load_pair
from duolab.paths import results_dir
from duolab.predict.simulate import OUTCOME_HIT


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
        work = task_workloads(pair, args.prompts, args.max_new_tokens)
    table = gate_table(work, coverage, ratio, chain_lengths=args.chain_lengths, outcome_hit=args.outcome_hit)
    save_table(table, results_dir() / "outcome_cache_gate.csv")
    pd.set_option("display.width", 200)
    print(gate_report(table))


if __name__ == "__main__":
    main()
