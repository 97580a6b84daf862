"""The duo draft worker's soak test (scripts/soak_duo.py calls it): many consecutive duo
generations on one pair, each checked against AR, with the resident memory of this process and
of the worker sampled as it goes; then whether the worker outlives `pair.close()`, or a child
interpreter that exits without closing its pair. Linux only (/proc).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
from tqdm.auto import tqdm

from duolab.generation import generate
from duolab.methods.worker import held_worker, process_alive, worker_processes
from duolab.models import Pair

EVERY = 25  # generations between memory samples

# run in a child interpreter: a duo generation, the worker's pid printed, then exit without close()
ABANDON = """
import duolab, sys
from duolab.methods.worker import held_worker
pair = duolab.load_pair()
duolab.generate(pair, "Question: what is 2 + 3?", method="duo", max_new_tokens=8)
print(held_worker(pair).pid, flush=True)
sys.exit(0)  # no pair.close(): the worker must notice and exit on its own
"""


class SoakError(RuntimeError):
    """A duo generation differed from AR's, or its worker failed."""


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def soak(pair: Pair, prompts: list[str], generations: int, warmup: int, max_new_tokens: int) -> pd.DataFrame:
    """Run `generations` duo generations cycling over `prompts`, each against AR's output (raises
    SoakError at the first difference or worker failure). One row per sample (every EVERY
    generations and after `warmup`): generation, main_rss_mb, worker_rss_mb, worker_pid, elapsed_s."""
    reference = {}
    rows = []
    t0 = time.time()
    for i in tqdm(range(generations), desc="soak"):
        prompt = prompts[i % len(prompts)]
        g = generate(pair, prompt, method="duo", max_new_tokens=max_new_tokens)
        if prompt not in reference:
            reference[prompt] = generate(pair, prompt, method="ar", max_new_tokens=max_new_tokens).token_ids
        if g.token_ids != reference[prompt] or g.stats["worker_failed"]:
            raise SoakError(f"generation {i}: output differs from AR or the worker failed")
        if (i + 1) % EVERY == 0 or i + 1 == warmup:
            worker = held_worker(pair)
            rows.append({"generation": i + 1, "main_rss_mb": rss_mb(os.getpid()),
                         "worker_rss_mb": rss_mb(worker.pid), "worker_pid": worker.pid,
                         "elapsed_s": time.time() - t0})
    return pd.DataFrame(rows).drop_duplicates("generation")


def soak_summary(table: pd.DataFrame, warmup: int) -> str:
    """The table, each process's memory growth from warm-up to the end, and the worker pids seen."""
    warm = table[table.generation == warmup].iloc[0]
    last = table.iloc[-1]
    lines = [table.to_string(index=False)]
    for col in ("main_rss_mb", "worker_rss_mb"):
        growth = 100 * (last[col] - warm[col]) / warm[col]
        lines.append(f"{col}: {warm[col]:.1f} MB after {warmup} -> {last[col]:.1f} MB after "
                     f"{int(last.generation)} generations ({growth:+.2f}%)")
    lines.append(f"worker pids seen: {sorted(set(table.worker_pid))} (one means the worker was reused throughout)")
    return "\n".join(lines)


def close_and_check(pair: Pair, wait_s: float = 0.5) -> tuple[bool, list[int]]:
    """Close the pair; then whether its worker is still alive, and the workers this process has left."""
    worker_pid = held_worker(pair).pid
    pair.close()
    time.sleep(wait_s)
    return process_alive(worker_pid), worker_processes(os.getpid())


def abandoned_worker(timeout_s: float = 5.0) -> tuple[int, bool]:
    """A child interpreter runs duo and exits without closing its pair: (its worker's pid, whether
    that worker is still alive `timeout_s` later)."""
    child = subprocess.run([sys.executable, "-c", ABANDON], capture_output=True, text=True, check=True)
    pid = int(child.stdout.strip().splitlines()[-1])
    deadline = time.time() + timeout_s
    while process_alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    return pid, process_alive(pid)
