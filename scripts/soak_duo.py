"""Soak test for the duo draft worker: many consecutive generations on one pair.

    python scripts/soak_duo.py --generations 500
    python scripts/soak_duo.py --prompts-per-task 60 --generations 420   # every prompt once

Reports the resident memory (RSS) of the calling process and of the worker after warm-up and at
the end, checks every greedy output against AR, then checks that no worker outlives (a) an
explicit `pair.close()` and (b) a child interpreter that exits without closing its pair.
Writes data/results/soak_duo.csv (RSS every 25 generations).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pandas as pd
from tqdm.auto import tqdm

from duolab import generate, load_pair
from duolab.artefacts import save_table
from duolab.methods.worker import process_alive, worker_processes
from duolab.paths import results_dir
from duolab.prompts import TASKS, load_prompts


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


ABANDON = """
import duolab, sys
pair = duolab.load_pair()
duolab.generate(pair, "Question: what is 2 + 3?", method="duo", max_new_tokens=8)
print(pair.resources["draft_worker"].pid, flush=True)
sys.exit(0)  # no pair.close(): the worker must notice and exit on its own
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--prompts-per-task", type=int, default=10, help="60: every prompt of every task")
    args = ap.parse_args()

    prompts = [p for t in TASKS for p in load_prompts(t, args.prompts_per_task)]
    pair = load_pair()
    reference = {}
    rows = []
    t0 = time.time()
    for i in tqdm(range(args.generations), desc="soak"):
        prompt = prompts[i % len(prompts)]
        g = generate(pair, prompt, method="duo", max_new_tokens=args.max_new_tokens)
        if prompt not in reference:
            reference[prompt] = generate(pair, prompt, method="ar",
                                         max_new_tokens=args.max_new_tokens).token_ids
        if g.token_ids != reference[prompt] or g.stats["worker_failed"]:
            raise SystemExit(f"generation {i}: output differs from AR or the worker failed")
        if (i + 1) % 25 == 0 or i + 1 == args.warmup:
            worker = pair.resources["draft_worker"]
            rows.append({"generation": i + 1, "main_rss_mb": rss_mb(os.getpid()),
                         "worker_rss_mb": rss_mb(worker.pid), "worker_pid": worker.pid,
                         "elapsed_s": time.time() - t0})
    table = pd.DataFrame(rows).drop_duplicates("generation")
    save_table(table, results_dir() / "soak_duo.csv")

    warm = table[table.generation == args.warmup].iloc[0]
    last = table.iloc[-1]
    pids = set(table.worker_pid)
    print(table.to_string(index=False))
    for col in ("main_rss_mb", "worker_rss_mb"):
        growth = 100 * (last[col] - warm[col]) / warm[col]
        print(f"{col}: {warm[col]:.1f} MB after {args.warmup} -> {last[col]:.1f} MB after "
              f"{int(last.generation)} generations ({growth:+.2f}%)")
    print(f"worker pids seen: {sorted(pids)} (one means the worker was reused throughout)")

    worker_pid = pair.resources["draft_worker"].pid
    pair.close()
    time.sleep(0.5)
    print(f"after pair.close(): worker alive={process_alive(worker_pid)}, "
          f"workers left={worker_processes(os.getpid())}")

    child = subprocess.run([sys.executable, "-c", ABANDON], capture_output=True, text=True,
                           check=True)
    abandoned = int(child.stdout.strip().splitlines()[-1])
    deadline = time.time() + 5
    while process_alive(abandoned) and time.time() < deadline:
        time.sleep(0.1)
    print(f"child exited without close(): its worker {abandoned} alive={process_alive(abandoned)}")


if __name__ == "__main__":
    main()
