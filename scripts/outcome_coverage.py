"""How often could outcome speculation guess the target's correction at all?

    python scripts/outcome_coverage.py [--prompts 5] [--max-new-tokens 128]

duo pre-drafts outcome chains for "rejected here, corrected to one of the draft's next-best
tokens" (duolab.methods.drafting.ALTERNATIVES = 2 of them per position). Whatever the timing, a chain can
only be used when the target's token is among those. This replays each task's greedy AR output
and, at every position where the draft's argmax differs from the target's token, finds the
target's token's rank in the draft's distribution: the share of rejections whose correction is in
the draft's top k is the ceiling of the outcome hit rate with k - 1 alternatives per position
(duolab.lab.outcome_study). Prints the table and writes data/results/outcome_coverage.csv.
"""

from __future__ import annotations

import argparse

from duolab.artefacts import save_table
from duolab.lab.outcome_study import coverage_table
from duolab.methods.drafting import ALTERNATIVES
from duolab.models import load_pair
from duolab.paths import results_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--prompts", type=int, default=5, help="prompts per task")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    args = ap.parse_args()
    with load_pair() as pair:
        table = coverage_table(pair, args.prompts, args.max_new_tokens)
    path = results_dir() / "outcome_coverage.csv"
    save_table(table, path)
    print(f"share of rejections whose correction is in the draft's top k (duo drafts top {1 + ALTERNATIVES})")
    print(table.round(3).to_string(index=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
