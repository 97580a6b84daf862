"""What a branch costs when the draft drafts several at once: one batched step of B branches.

    python scripts/measure_branch_cost.py      # ~10 s on 2 cores

The draft's fast runner drafts B tokens, one per branch, at one position after a shared prefix of
`--context` tokens, in one forward (FastLlama.forward_tree; each token sees the prefix and
itself), on one thread, B = 1..16, interleaved, medians over `--repeats` passes. A step of B
branches costs t_d + (B - 1) * t_m: the table gives each B's step, its cost per branch, and the
fitted t_m against t_d (one branch, one token). Writes data/results/branch_cost.csv; every
profile measured from now on carries the same curve (LatencyProfile.draft_branch_ms).
"""

from __future__ import annotations

import argparse

import pandas as pd

from duolab.artefacts import save_table
from duolab.latency_profile import fit_line
from duolab.measure.profiling import BRANCH_SIZES, measure_branch_steps
from duolab.models import load_pair
from duolab.paths import results_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--context", type=int, default=128, help="tokens of the shared prefix")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    pair = load_pair()
    steps = measure_branch_steps(pair, BRANCH_SIZES, args.context, args.repeats)
    t_m = fit_line(BRANCH_SIZES, steps)[0]
    table = pd.DataFrame({"branches": BRANCH_SIZES, "step_ms": steps,
                          "ms_per_branch": [s / b for s, b in zip(steps, BRANCH_SIZES, strict=True)]})
    table["t_m_ms"], table["t_d_ms"] = t_m, steps[0]
    print(table.round(4).to_string(index=False))
    print(f"t_d (one branch) = {steps[0]:.3f} ms; t_m (each more branch, least squares) = {t_m:.4f} ms "
          f"= {t_m / steps[0]:.3f} t_d; 16 branches in one step: {steps[-1] / steps[0]:.2f} t_d")
    save_table(table, results_dir() / "branch_cost.csv")


if __name__ == "__main__":
    main()
