"""Two revisions of duolab, same machine, one round-robin run: the same tokens, and how fast.

    python scripts/bench_revisions.py 47fe114 HEAD       # ~4 min on 2 cores

Each revision is checked out into a git worktree (build/revisions/<sha>) and run as its own Python
process (PYTHONPATH = that tree, so its draft worker runs its code too). Every repeat runs both
revisions in turn, alternating which goes first; each process loads the shipped pair, warms up,
then generates greedily (fp32) with ar, sps at `--sps-budget`, pld and duo's defaults on the tasks'
prompts, through the public API only (`duolab.load_pair`, `duolab.generate`). Prints whether every
token matched across revisions and methods, and the median tokens/s per revision, method and task;
writes data/results/bench_revisions.csv (one row per generation).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from duolab.artefacts import save_table
from duolab.paths import REPO_DIR, results_dir

CHILD = """
import json, sys
import duolab
from duolab.prompts import load_prompts
args = json.loads(sys.argv[1])
pair = duolab.load_pair()
methods = {"ar": {}, "sps": {"budget": args["sps_budget"]}, "pld": {}, "duo": {}}
for m, kw in methods.items():  # warm-up: the worker, duo's profile and prior alpha, the caches
    duolab.generate(pair, "Hello", method=m, max_new_tokens=8, **kw)
rows = []
for task in args["tasks"]:
    for i, prompt in enumerate(load_prompts(task, args["prompts"])):
        for m, kw in methods.items():
            g = duolab.generate(pair, prompt, method=m, max_new_tokens=args["max_new_tokens"], **kw)
            rows.append({"task": task, "prompt": i, "method": m, "tokens_per_s": g.stats["tokens_per_s"],
                         "tokens": g.token_ids})
print(json.dumps(rows))
"""


def worktree(rev: str) -> tuple[str, Path]:
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO_DIR, check=True, capture_output=True,
                         text=True).stdout.strip()
    path = REPO_DIR / "build" / "revisions" / sha
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=REPO_DIR, check=True,
                       capture_output=True)
    return sha, path


def run_revision(path: Path, args: argparse.Namespace) -> list[dict]:
    child_args = json.dumps({"tasks": args.tasks, "prompts": args.prompts, "sps_budget": args.sps_budget,
                             "max_new_tokens": args.max_new_tokens})
    out = subprocess.run([sys.executable, "-c", CHILD, child_args], cwd=path, check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(path), "DUOLAB_QUICK": ""})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("revisions", nargs=2, help="two git revisions (e.g. 47fe114 HEAD)")
    ap.add_argument("--tasks", nargs="+", default=["qa", "math_reasoning", "humaneval"])
    ap.add_argument("--prompts", type=int, default=2, help="prompts per task")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sps-budget", type=int, default=3, help="SpS's γ (its best on this CPU: 3)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    trees = [worktree(rev) for rev in args.revisions]
    rows = []
    for r in range(args.repeats):
        for sha, path in trees if r % 2 == 0 else trees[::-1]:
            print(f"repeat {r + 1}/{args.repeats}: {sha}", flush=True)
            rows += [{"revision": sha, "repeat": r, **row} for row in run_revision(path, args)]
    table = pd.DataFrame(rows)
    tokens = table.assign(tokens=table.tokens.map(tuple)).groupby(["task", "prompt"]).tokens.nunique()
    print(f"same tokens for every revision, method and repeat: {bool((tokens == 1).all())} "
          f"({len(table)} generations)")
    speed = table.pivot_table(index=["method", "task"], columns="revision", values="tokens_per_s", aggfunc="median")
    speed = speed[[sha for sha, _ in trees]]
    speed["ratio"] = speed.iloc[:, 1] / speed.iloc[:, 0]
    print(speed.round(2).to_string())
    save_table(table.drop(columns="tokens").assign(same_tokens=bool((tokens == 1).all())), results_dir() / "bench_revisions.csv")


if __name__ == "__main__":
    main()
