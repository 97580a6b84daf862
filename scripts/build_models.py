"""Build the default duolab pair from scratch: corpus -> tokenizer -> draft -> target.

    python scripts/build_models.py                  # full recipe (about 50 min on 2 CPU cores)
    python scripts/build_models.py --smoke          # a few steps of everything, for testing
    python scripts/build_models.py --only corpus    # prompts + tokenizer + token stream only
    python scripts/report_pair.py                   # numbers for data/README.md afterwards

Outputs: data/prompts/*.jsonl, data/models/{tokenizer,draft,target}/; intermediate files
(token stream, training logs, report.json) go to build/, which is not committed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from duolab import corpus, training  # noqa: E402

DATA, BUILD = ROOT / "data", ROOT / "build"
TOKENIZER_DIR = DATA / "models" / "tokenizer"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("corpus", "draft", "target"), help="run one stage")
    ap.add_argument("--skip-corpus", action="store_true", help="reuse build/tokens.npy and the tokenizer")
    ap.add_argument("--draft-steps", type=int, default=training.DRAFT_TRAIN.steps)
    ap.add_argument("--target-steps", type=int, default=training.TARGET_TRAIN.steps)
    ap.add_argument("--smoke", action="store_true", help="tiny run into build/smoke (does not touch data/models)")
    ap.add_argument("--no-kjv", action="store_true", help="build without the Debian KJV prose")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    models = BUILD / "smoke" if args.smoke else DATA / "models"
    tok_dir = models / "tokenizer"
    t0 = time.time()
    if args.only in (None, "corpus") and not args.skip_corpus:
        n = corpus.write_prompt_sets(DATA / "prompts")
        print(f"prompt sets: {n}", flush=True)
        spec = corpus.CorpusSpec(use_kjv=not args.no_kjv)
        stats = corpus.build(BUILD, tok_dir if args.smoke else TOKENIZER_DIR, spec)
        print(f"corpus: {json.dumps(stats)}  ({time.time() - t0:.0f}s)", flush=True)
    if args.only == "corpus":
        return
    tokens = training.load_tokens(BUILD / "tokens.npy")
    tok_src = tok_dir if (tok_dir / "tokenizer.json").exists() else TOKENIZER_DIR
    for name, mspec, tspec, steps in (("draft", training.DRAFT, training.DRAFT_TRAIN, args.draft_steps),
                                      ("target", training.TARGET, training.TARGET_TRAIN, args.target_steps)):
        if args.only not in (None, name):
            continue
        if args.smoke:
            steps = min(steps, 6)
        tspec = training.replace(tspec, steps=steps, threads=args.threads)
        logs = BUILD / "smoke" if args.smoke else BUILD
        training.train(name, mspec, tspec, tokens, models / name, tok_src, logs / f"{name}_log.jsonl")
    print(f"done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
