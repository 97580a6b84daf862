"""Timing primitives for the profiler: a synchronized stopwatch, medians, token ids."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from duolab.models import Pair


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def timed_ms(fn, device: torch.device) -> float:
    """Milliseconds fn() takes, CUDA-synchronized before and after when `device` is a GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 1000 * (time.perf_counter() - t)


def random_ids(pair: Pair, n: int) -> list[int]:
    """n token ids drawn from a fixed seed (the same for every measurement)."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(4, len(pair.tokenizer), (n,), generator=g).tolist()
