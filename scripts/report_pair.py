"""Measure the shipped (target, draft) pair and print the numbers quoted in data/README.md.

    python scripts/report_pair.py                 # markdown to stdout, JSON to build/report.json
    python scripts/report_pair.py --write-readme  # also replace the generated part of data/README.md

Everything runs on the CPU: held-out loss per task, greedy agreement per task (fraction of
positions where the draft's argmax equals the target's along the target's own greedy
continuation), answer accuracy of each model on qa and math_reasoning (all held-out prompts),
sample continuations of both models, per-token decode latency with a KV cache at 1 thread
(transformers and the fast runner), and sha256 of every shipped file. The per-task quality
table goes to data/results/pair_quality.csv. The measurements are duolab.lab.pair_report.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from duolab.lab import pair_report
from duolab.paths import DATA_DIR, REPO_DIR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=20, help="prompts per task")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="threads for the quality part")
    ap.add_argument("--models", type=Path, default=DATA_DIR / "models", help="folder with target/ and draft/")
    ap.add_argument("--accuracy-prompts", type=int, default=60, help="qa/math prompts scored for accuracy")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    rep = pair_report.measure(args.models, args.prompts, args.new_tokens, args.threads, args.accuracy_prompts)
    (REPO_DIR / "build").mkdir(exist_ok=True)
    (REPO_DIR / "build" / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
    with open(DATA_DIR / "results" / "pair_quality.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, pair_report.QUALITY_COLUMNS)
        writer.writeheader()
        writer.writerows(pair_report.quality_rows(rep))
    md = pair_report.markdown(rep)
    print(md)
    if args.write_readme:
        pair_report.replace_generated(DATA_DIR / "README.md", md)


if __name__ == "__main__":
    main()
