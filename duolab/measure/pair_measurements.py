"""What the measuring part has learnt about a pair in this process: one typed record per pair,
kept while the pair lives (a weak reference: a pair that is garbage takes its record with it).
Its owners: profile_store (content hash, profile, prior-alpha workloads), recommend (per-task
workloads) and caller_threads (the caller's thread timings)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from duolab.latency_profile import LatencyProfile, Workload
    from duolab.models import Pair


@dataclass
class PairMeasurements:
    content_hash: str | None = None  # duolab.artefacts.hash_of the pair's weights, once per pair
    profile: LatencyProfile | None = None  # its latency profile on this machine
    prior_workloads: dict[tuple[str, ...] | None, Workload] = field(default_factory=dict)  # by prompts (None: shipped)
    task_workloads: dict[tuple[str, int, int], Workload] = field(default_factory=dict)  # (task, prompts, new tokens)
    caller_threads_timings: pd.DataFrame | None = None  # choose_caller_threads' table


_BY_PAIR: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def measurements_of(pair: Pair) -> PairMeasurements:
    """The pair's record, made empty on first use."""
    return _BY_PAIR.setdefault(pair, PairMeasurements())
