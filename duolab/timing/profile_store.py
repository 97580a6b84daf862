"""What duo's per-round choices run on, once per pair: its latency profile on this machine and a
prior alpha.

`cached_profile(pair)` takes a profile of this pair saved in data/profiles from this machine (the
same fingerprint and layout), else measures one (duolab.timing.profiling), and keeps it on the
pair; `workload_estimate(pair)` measures the pair's greedy agreement on one shipped prompt per task
and keeps it. duolab.generation.generate calls both when duo's options choose per round.
"""

from __future__ import annotations

from pathlib import Path

from duolab.artefacts import machine_fingerprint
from duolab.latency_profile import LatencyProfile, Workload, find_profile
from duolab.models import Pair
from duolab.paths import DATA_DIR
from duolab.prompts import TASKS, load_prompts
from duolab.timing.caller_threads import caller_threads_note
from duolab.timing.profiling import measure_workload, profile_pair


def find_or_measure(pair: Pair, directory: str | Path, quick: bool = False) -> LatencyProfile:
    """A saved profile of this pair measured on this machine (same fingerprint) from `directory`,
    else a new one.
    On an accelerator host the calling process's threads are still chosen here, by measurement
    on this machine (seconds), unless already set: a saved profile may come from another host."""
    prof = find_profile(pair, directory, machine_fingerprint())
    if prof is None:
        return profile_pair(pair, quick=quick)
    caller_threads_note(pair)
    return prof


def _saved_here(pair: Pair) -> LatencyProfile | None:
    """A profile in data/profiles of this pair measured on this machine (the same fingerprint: CPU
    model, cores, GPU, torch) with this layout (a saved profile from anywhere else is never taken
    for this machine's latencies)."""
    prof = find_profile(pair, DATA_DIR / "profiles", machine_fingerprint())
    if prof is None or pair.layout is None:
        return None
    same = (prof.notes.get("fingerprint"), prof.notes.get("layout")) == (
        machine_fingerprint(), str(pair.layout))
    return prof if same else None


def cached_profile(pair: Pair, quick: bool = False) -> LatencyProfile:
    """The pair's profile: one saved from this machine (see `_saved_here`), else measured on first
    use; kept for the pair's lifetime. On an accelerator host the calling process's threads are
    chosen either way (see `find_or_measure`)."""
    prof = pair.resources.get("latency_profile")
    if prof is None:
        prof = _saved_here(pair)
        if prof is None:
            prof = profile_pair(pair, quick=quick)
        else:  # the caller's threads are this process's choice, not the saved file's
            caller_threads_note(pair)
        pair.resources["latency_profile"] = prof
    return prof


def workload_estimate(pair: Pair) -> Workload:
    """The pair's acceptance on one shipped prompt per task: measured once, kept on the pair."""
    if "workload_estimate" not in pair.resources:
        prompts = [load_prompts(t, 1)[0] for t in TASKS]
        pair.resources["workload_estimate"] = measure_workload(pair, prompts, 64)
    return pair.resources["workload_estimate"]
