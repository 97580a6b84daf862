"""Where each side runs: cores and torch threads for the target (calling process) and the draft
worker. On a CPU-only host the two get disjoint cores, so the parallel schedule is real: core 0
stands in for the GPU (target), core 1 for the CPU (draft) on a 2-core machine."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass
class CpuLayout:
    target_cores: list[int] | None  # None: leave the calling process's affinity alone
    draft_cores: list[int] | None
    target_threads: int | None  # None: leave torch's thread count alone
    draft_threads: int = 1


def available_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def default_layout(target_device: torch.device) -> CpuLayout:
    cores = available_cores()
    if target_device.type != "cpu":
        # target on an accelerator: the draft gets one core of its own when there are spare ones
        return CpuLayout(None, cores[-1:] if len(cores) > 1 else None, None, 1)
    if len(cores) < 2:
        return CpuLayout(None, None, 1, 1)
    half = len(cores) // 2
    return CpuLayout(cores[:half], cores[half:], half, len(cores) - half)


def pin_current_thread(cores: list[int] | None, threads: int | None) -> None:
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    if threads:
        torch.set_num_threads(threads)


@contextmanager
def target_placement(layout: CpuLayout | None):
    """Run the target side on its cores and thread count, then restore the caller's settings."""
    if layout is None or (layout.target_cores is None and layout.target_threads is None):
        yield
        return
    old_cores = available_cores()
    old_threads = torch.get_num_threads()
    pin_current_thread(layout.target_cores, layout.target_threads)
    try:
        yield
    finally:
        pin_current_thread(old_cores, old_threads)
