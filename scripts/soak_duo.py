"""Soak test for the duo draft worker: many consecutive generations on one pair.

    python scripts/soak_duo.py --generations 500
    python scripts/soak_duo.py --prompts-per-task 60 --generations 420   # every prompt once

Reports the resident memory (RSS) of the calling process and of the worker after warm-up and at
the end, checks every greedy output against AR, then checks that no worker outlives (a) an
explicit `pair.close()` and (b) a child interpreter that exits without closing its pair
(duolab.lab.soak). Writes data/results/soak_duo.csv (RSS every 25 generations).
"""

from __future__ import annotations

import argparse

from duolab import load_pair
from duolab.artefacts import save_table
from duolab.lab.soak import SoakError, abandoned_worker, close_and_check, soak, soak_summary
from duolab.paths import results_dir
from duolab.prompts import TASKS, load_prompts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--prompts-per-task", type=int, default=10, help="60: every prompt of every task")
    args = ap.parse_args()

    prompts = [p for t in TASKS for p in load_prompts(t, args.prompts_per_task)]
    pair = load_pair()
    try:
        table = soak(pair, prompts, args.generations, args.warmup, args.max_new_tokens)
    except SoakError as e:
        raise SystemExit(str(e)) from None
    save_table(table, results_dir() / "soak_duo.csv")
    print(soak_summary(table, args.warmup))

    alive, left = close_and_check(pair)
    print(f"after pair.close(): worker alive={alive}, workers left={left}")
    pid, alive = abandoned_worker()
    print(f"child exited without close(): its worker {pid} alive={alive}")


if __name__ == "__main__":
    main()
