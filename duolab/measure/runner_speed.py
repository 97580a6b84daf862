"""Decode latency of the draft model on its two runners, transformers (CachedModel) and FastLlama
(scripts/bench_fast_llama.py calls it): the same prompt prefilled, then the same greedy
continuation decoded one token at a time, repeats interleaved.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from duolab.runners.fast_llama import FastLlama
from duolab.runners.kvcache import CachedModel


def load_draft(path: Path):
    """(model, where it came from): the model at `path` in fp32, or, without that folder, a random
    Llama shaped like the default draft (hidden 128, 2 layers, 2 heads, vocab 4096, tied head)."""
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


def compare_runners(model, prefill: int, tokens: int, repeats: int) -> dict[str, list[float]]:
    """Runner name -> [wall, CPU] median ms per decode token after a `prefill`-token random prompt
    (seeded), over `repeats` interleaved repeats of `tokens` steps of FastLlama's greedy
    continuation (computed once, so both runners see the same sequence). The model's config must
    be one FastLlama supports."""
    fast = FastLlama(model, max_len=prefill + tokens)
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, model.config.vocab_size, (prefill,), generator=g).tolist()
    steps = [int(fast.forward(prompt)[-1].argmax())]
    for _ in range(tokens - 1):
        steps.append(int(fast.forward(steps[-1:])[-1].argmax()))

    runners = {"transformers": CachedModel(model), "FastLlama": fast}
    runs = {name: [] for name in runners}
    for _ in range(repeats):  # interleaved, so background load hits both alike
        for name, runner in runners.items():
            runs[name].append(time_runner(runner, prompt, steps))
    return {name: [statistics.median(t[k] for t in ts) * 1e3 for k in (0, 1)] for name, ts in runs.items()}
