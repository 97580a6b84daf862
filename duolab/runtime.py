"""Where each side runs: cores and torch threads for the target (calling process) and the draft
worker. On a CPU-only host the two get disjoint cores, so the parallel schedule is real: core 0
stands in for the GPU (target), core 1 for the CPU (draft) on a 2-core machine.

On an accelerator host the calling process still does CPU work (kernel launches, the in-process
SpS draft, sampling and verification), and torch's default thread count (one per core) can make
that several times slower. Its thread count is therefore a measured choice
(`duolab.measure.caller_threads.choose_caller_threads`); a user overrides it with
`pair.layout.target_threads = n`."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from duolab.arguments import is_whole


@dataclass
class CpuLayout:
    target_cores: list[int] | None  # None: leave the calling process's affinity alone
    draft_cores: list[int] | None
    target_threads: int | None  # None: leave torch's thread count alone
    draft_threads: int = 1
    # the calling process's threads while duo's worker drafts beside it (an accelerator host: what
    # the target's launches need, measured); None: target_threads
    duo_target_threads: int | None = None


def available_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


# Per accelerator type, the calling process's thread count measured earlier in this process
# (choose_caller_threads): pairs loaded after that start from it, not from torch's default.
_chosen_caller_threads: dict[str, int] = {}


def check_threads(threads, what: str = "threads") -> None:
    if not is_whole(threads, 1):
        raise ValueError(f"{what} must be an integer >= 1, got {threads!r}")


def default_layout(target_device: torch.device, caller_threads: int | None = None) -> CpuLayout:
    """The layout a pair starts with. On an accelerator host `caller_threads` (default: the
    count chosen earlier in this process for this device type, else None = torch's default) is
    the calling process's torch thread count; on a CPU-only host the cores are split in two."""
    cores = available_cores()
    if target_device.type != "cpu":
        if caller_threads is None:
            caller_threads = _chosen_caller_threads.get(target_device.type)
        if caller_threads is not None:
            check_threads(caller_threads, "caller_threads")
        # target on an accelerator: the draft gets one core of its own when there are spare ones
        return CpuLayout(None, cores[-1:] if len(cores) > 1 else None, caller_threads, 1)
    if caller_threads is not None:
        raise ValueError("caller_threads applies to an accelerator target; on a CPU-only host the "
                         "target's threads follow its share of the cores (set layout.target_threads)")
    if len(cores) < 2:
        return CpuLayout(None, None, 1, 1)
    half = len(cores) // 2
    return CpuLayout(cores[:half], cores[half:], half, len(cores) - half)


def caller_thread_candidates(layout: CpuLayout, default: int | None = None) -> list[int]:
    """Thread counts worth timing for the calling process: 1, 2, 4 and torch's default, capped by
    the cores it may use (its own when pinned, else all but the draft worker's)."""
    cores = available_cores()
    usable = layout.target_cores or [c for c in cores if c not in (layout.draft_cores or [])] or cores
    default = default if default is not None else torch.get_num_threads()
    return sorted({min(n, len(usable)) for n in (1, 2, 4, default)})


def worker_thread_candidates(layout: CpuLayout) -> list[int]:
    """Thread counts worth timing for the draft worker: 1, 2, 4, 8 and all of its cores."""
    n = len(layout.draft_cores) if layout.draft_cores else 1
    return sorted({min(c, n) for c in (1, 2, 4, 8, n)})


def give_worker_the_rest(layout: CpuLayout, caller_threads: int, cores: list[int] | None = None) -> CpuLayout:
    """On an accelerator host, once duo's caller needs `caller_threads`: the caller keeps that many
    cores, the draft worker gets every other one (its threads are measured among them)."""
    cores = cores if cores is not None else available_cores()
    if len(cores) < 2:
        return replace(layout, duo_target_threads=caller_threads)
    keep = min(caller_threads, len(cores) - 1)
    return replace(layout, draft_cores=cores[keep:], duo_target_threads=keep)


def remember_caller_threads(target_device: torch.device, threads: int) -> None:
    """Record a measured choice, so default_layout gives it to pairs loaded later in this process."""
    check_threads(threads)
    if target_device.type != "cpu":
        _chosen_caller_threads[target_device.type] = threads


def pin_current_thread(cores: list[int] | None, threads: int | None) -> None:
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    if threads:
        torch.set_num_threads(threads)


@contextmanager
def target_placement(layout: CpuLayout | None, beside_worker: bool = False):
    """Run the target side on its cores and thread count (duo's, `beside_worker`, while its
    worker drafts), then restore the caller's settings."""
    threads = layout and ((layout.duo_target_threads if beside_worker else None) or layout.target_threads)
    if layout is None or (layout.target_cores is None and threads is None):
        yield
        return
    old_cores = available_cores()
    old_threads = torch.get_num_threads()
    cores = layout.target_cores
    if beside_worker and layout.duo_target_threads and cores is None and layout.draft_cores:
        cores = [c for c in old_cores if c not in layout.draft_cores] or None  # off the worker's cores
    pin_current_thread(cores, threads)
    try:
        yield
    finally:
        pin_current_thread(old_cores, old_threads)
