"""Build the default duolab pair from scratch: corpus -> tokenizer -> draft -> target.

    python -m recipe.build_models                   # full recipe (about 50 min on 2 CPU cores)
    python -m recipe.build_models --smoke           # a few steps of everything, for testing
    python -m recipe.build_models --only corpus     # prompts + tokenizer + token streams only
    python -m recipe.build_models --only target2    # target stage 2 alone (from build/target_stage1)
    python -m recipe.build_models --only target3    # target stage 3 alone (from build/target_stage2)
    python scripts/report_pair.py                   # numbers for data/README.md afterwards

Run from the repository root (`-m` puts it on sys.path: recipe is not installed).

Outputs: data/prompts/*.jsonl, data/models/{tokenizer,draft,target}/; intermediate files
(token stream, training logs, report.json) go to build/, which is not committed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recipe import corpus, training

ROOT = Path(__file__).resolve().parents[1]
DATA, BUILD = ROOT / "data", ROOT / "build"
TOKENIZER_DIR = DATA / "models" / "tokenizer"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("corpus", "draft", "target", "target2", "target3"), help="run one stage")
    ap.add_argument("--skip-corpus", action="store_true", help="reuse build/tokens.npy and the tokenizer")
    ap.add_argument("--draft-steps", type=int, default=training.DRAFT_TRAIN.steps)
    ap.add_argument("--target-steps", type=int, default=training.TARGET_TRAIN.steps)
    ap.add_argument("--target2-steps", type=int, default=training.TARGET_STAGE2.steps)
    ap.add_argument("--target3-steps", type=int, default=training.TARGET_STAGE3.steps)
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
        spec2 = corpus.CorpusSpec(seed=training.STAGE2_CORPUS_SEED, use_kjv=not args.no_kjv)
        stats2 = corpus.build(BUILD, tok_dir if args.smoke else TOKENIZER_DIR, spec2, new_tokenizer=False,
                              stream_name="tokens_stage2")
        print(f"stage-2 corpus: {json.dumps(stats2)}  ({time.time() - t0:.0f}s)", flush=True)
        spec3 = corpus.CorpusSpec(**training.STAGE3_CORPUS, use_kjv=not args.no_kjv)
        stats3 = corpus.build(BUILD, tok_dir if args.smoke else TOKENIZER_DIR, spec3, new_tokenizer=False,
                              stream_name="tokens_stage3")
        print(f"stage-3 corpus: {json.dumps(stats3)}  ({time.time() - t0:.0f}s)", flush=True)
    if args.only == "corpus":
        return
    tok_src = tok_dir if (tok_dir / "tokenizer.json").exists() else TOKENIZER_DIR
    logs = BUILD / "smoke" if args.smoke else BUILD
    stage1, stage2 = logs / "target_stage1", logs / "target_stage2"
    # (stage, model spec, train spec, steps, token stream, output folder, initial weights)
    stages = (("draft", training.DRAFT, training.DRAFT_TRAIN, args.draft_steps, "tokens", models / "draft", None),
              ("target", training.TARGET, training.TARGET_TRAIN, args.target_steps, "tokens", stage1, None),
              ("target2", training.TARGET, training.TARGET_STAGE2, args.target2_steps, "tokens_stage2",
               stage2, stage1),
              ("target3", training.TARGET, training.TARGET_STAGE3, args.target3_steps, "tokens_stage3",
               models / "target", stage2))
    for name, mspec, tspec, steps, stream, out, init in stages:
        if args.only not in (None, name):
            continue
        if args.smoke:
            steps = min(steps, 6)
        tspec = training.replace(tspec, steps=steps, threads=args.threads)
        tokens = training.load_tokens(BUILD / f"{stream}.npy")
        training.train(name.rstrip("23"), mspec, tspec, tokens, out, tok_src, logs / f"{name}_log.jsonl",
                       init_from=init)
    print(f"done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
