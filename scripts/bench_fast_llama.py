"""Decode latency of the draft model: transformers vs duolab.runners.fast_llama.FastLlama, one CPU thread.

    python scripts/bench_fast_llama.py [--model data/models/draft] [--tokens 64] [--repeats 7]

Both runners prefill the same 256-token prompt, then decode `--tokens` tokens one at a time
(a greedy continuation computed once, so both see the same sequence). Reported: the median
over repeats of the mean time per decode token, as wall-clock time and as this thread's CPU
time (the latter is less disturbed by other work on a busy machine). Without the model folder
a random Llama shaped like the default draft (hidden 128, 2 layers, 2 heads, vocab 4096,
tied head: ~0.9M parameters) stands in.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from duolab.runners.fast_llama import FastLlama
from duolab.runners.kvcache import CachedModel


def load(path: Path):
    if path.exists():
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), str(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=4096, hidden_size=128, intermediate_size=344, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                      rms_norm_eps=1e-5, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval(), f"random llama ({path} not found)"


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def per_token(start: tuple[float, float], n: int) -> tuple[float, float]:
    now = clocks()
    return (now[0] - start[0]) / n, (now[1] - start[1]) / n


def time_runner(runner, prompt: list[int], steps: list[int]) -> tuple[float, float]:
    """Per decode token (wall s, CPU s) of a runner (CachedModel or FastLlama) after the prefill."""
    runner.reset()
    runner.forward(prompt)
    start = clocks()
    for tok in steps:
        runner.forward([tok])
    return per_token(start, len(steps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("data/models/draft"))
    ap.add_argument("--prefill", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=64, help="decode steps per repeat")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as in the draft worker

    model, source = load(args.model)
    cfg = model.config
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {source} ({n_params / 1e6:.2f}M params, hidden {cfg.hidden_size}, "
          f"{cfg.num_hidden_layers} layers, vocab {cfg.vocab_size})")
    if not FastLlama.supports(cfg):
        sys.exit("FastLlama does not support this config")
    fast = FastLlama(model, max_len=args.prefill + args.tokens)

    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, cfg.vocab_size, (args.prefill,), generator=g).tolist()
    steps = [int(fast.forward(prompt)[-1].argmax())]
    for _ in range(args.tokens - 1):
        steps.append(int(fast.forward(steps[-1:])[-1].argmax()))

    runners = {"transformers": CachedModel(model), "FastLlama": fast}
    runs = {name: [] for name in runners}
    for _ in range(args.repeats):  # interleaved, so background load hits both alike
        for name, runner in runners.items():
            runs[name].append(time_runner(runner, prompt, steps))
    med = {name: [statistics.median(t[k] for t in ts) * 1e3 for k in (0, 1)] for name, ts in runs.items()}

    print(f"decode after a {args.prefill}-token prefill: {args.tokens} tokens x {args.repeats} repeats, "
          "1 thread, median ms/token")
    print(f"{'runner':<14}{'wall':>8}{'cpu':>8}")
    for name, (wall, cpu) in med.items():
        print(f"{name:<14}{wall:>8.3f}{cpu:>8.3f}")
    hf, fl = med["transformers"], med["FastLlama"]
    print(f"speedup: {hf[0] / fl[0]:.2f}x wall, {hf[1] / fl[1]:.2f}x cpu")


if __name__ == "__main__":
    main()
