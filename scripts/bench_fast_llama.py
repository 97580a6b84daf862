"""Decode latency of the draft model: transformers vs duolab.runners.fast_llama.FastLlama, one CPU thread.

    python scripts/bench_fast_llama.py [--model data/models/draft] [--tokens 64] [--repeats 7]

Both runners prefill the same 256-token prompt, then decode `--tokens` tokens one at a time
(a greedy continuation computed once, so both see the same sequence). Reported: the median
over repeats of the mean time per decode token, as wall-clock time and as this thread's CPU
time (the latter is less disturbed by other work on a busy machine). Without the model folder
a random Llama shaped like the default draft (hidden 128, 2 layers, 2 heads, vocab 4096,
tied head: ~0.9M parameters) stands in. The measurement is duolab.measure.runner_speed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from duolab.measure.runner_speed import compare_runners, load_draft
from duolab.runners.fast_llama import FastLlama


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("data/models/draft"))
    ap.add_argument("--prefill", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=64, help="decode steps per repeat")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as in the draft worker

    model, source = load_draft(args.model)
    cfg = model.config
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {source} ({n_params / 1e6:.2f}M params, hidden {cfg.hidden_size}, "
          f"{cfg.num_hidden_layers} layers, vocab {cfg.vocab_size})")
    if not FastLlama.supports(cfg):
        sys.exit("FastLlama does not support this config")
    med = compare_runners(model, args.prefill, args.tokens, args.repeats)

    print(f"decode after a {args.prefill}-token prefill: {args.tokens} tokens x {args.repeats} repeats, "
          "1 thread, median ms/token")
    print(f"{'runner':<14}{'wall':>8}{'cpu':>8}")
    for name, (wall, cpu) in med.items():
        print(f"{name:<14}{wall:>8.3f}{cpu:>8.3f}")
    hf, fl = med["transformers"], med["FastLlama"]
    print(f"speedup: {hf[0] / fl[0]:.2f}x wall, {hf[1] / fl[1]:.2f}x cpu")


if __name__ == "__main__":
    main()
