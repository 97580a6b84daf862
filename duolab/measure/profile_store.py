"""What duo's per-round choices run on, once per pair: its latency profile on this machine and a
prior alpha.

`cached_profile(pair)` takes a profile of this pair measured on this machine: one kept on the
pair, one committed in data/profiles (the same fingerprint and layout), or one in the profile
cache (`profile_cache_dir()`, a file named by the machine's fingerprint, the pair's content hash
and its set-up); else it measures one (duolab.measure.profiling), saying what it measures, how long
that will take and each stage as it ends, and saves it in the cache, so a pair is measured once
per machine. `profile(pair)` does the same ahead of time.
`workload_estimate(pair)` measures the pair's greedy agreement on one shipped prompt per task (in
the pair's chat template when its tokenizer has one) or on the caller's own prompts, and keeps it.
duolab.generation.generate calls both when duo's options choose per round.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from duolab.artefacts import hash_of, machine_fingerprint, machine_slug
from duolab.latency_profile import LatencyProfile, Workload, find_profile
from duolab.measure.caller_threads import apply_duo_layout, caller_threads_note
from duolab.measure.pair_measurements import measurements_of
from duolab.measure.profiling import measure_workload, profile_pair
from duolab.models import Pair
from duolab.paths import DATA_DIR, quick_mode
from duolab.prompts import TASKS, load_prompts


def find_or_measure(pair: Pair, directory: str | Path, quick: bool = False) -> LatencyProfile:
    """A saved profile of this pair measured on this machine (same fingerprint) from `directory`,
    else a new one.
    On an accelerator host the calling process's threads are still chosen here, by measurement
    on this machine (seconds), unless already set: a saved profile may come from another host."""
    prof = find_profile(pair, directory, machine_fingerprint())
    if prof is None:
        return profile_pair(pair, quick=quick)
    caller_threads_note(pair)
    apply_duo_layout(pair, prof.notes.get("duo_layout"))
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


def profile_cache_dir() -> Path:
    """Where measured profiles are kept: $DUOLAB_CACHE/profiles, else ~/.cache/duolab/profiles
    (in quick mode, a folder of the run's own, so tests never read a user's profiles)."""
    from duolab.paths import output_root

    root = output_root() if quick_mode() else None
    base = root / "cache" if root else Path(os.environ.get("DUOLAB_CACHE") or Path.home() / ".cache" / "duolab")
    return base / "profiles"


def profile_cache_path(pair: Pair, quick: bool) -> Path:
    """The cache file of this pair's profile on this machine: machine slug (a hash of its
    fingerprint), the pair's content hash, and a hash of the set-up (device, runners, layout)."""
    setup = f"{pair.target_device}|{pair.draft_runner}|{pair.target_runner}|{pair.layout}"
    digest = hashlib.sha256(setup.encode()).hexdigest()[:8]
    return profile_cache_dir() / f"{machine_slug()}-{_pair_id(pair)}-{digest}{'-quick' if quick else ''}.json"


def _pair_id(pair: Pair) -> str:
    """The pair's content hash (duolab.artefacts.hash_of), computed once per Pair."""
    known = measurements_of(pair)
    if known.content_hash is None:
        known.content_hash = hash_of(pair.target_source, pair.draft_source).replace(":", "-")
    return known.content_hash


def _cached_on_disk(pair: Pair, quick: bool) -> LatencyProfile | None:
    """A full profile from the cache, or, when a quick one will do, a quick one."""
    for q in (False, True) if quick else (False,):
        path = profile_cache_path(pair, q)
        if path.exists():
            return LatencyProfile.load(path)
    return None


def profile(pair: Pair, quick: bool = False, verbose: bool = True) -> LatencyProfile:
    """The pair's latency profile on this machine, measured now unless already known (kept on the
    pair, committed in data/profiles, or in the profile cache), then kept and cached. Call it ahead
    of time to keep the first `generate(..., method="duo")` with budget="auto" fast; `verbose`
    prints what it measures, its estimate and each stage."""
    known = measurements_of(pair)
    prof = known.profile
    if prof is not None and (quick or not prof.notes.get("quick")):
        return prof
    prof = _saved_here(pair) or _cached_on_disk(pair, quick)
    if prof is None:
        say = (lambda message: print(message, file=sys.stderr, flush=True)) if verbose else None
        path = profile_cache_path(pair, quick)  # keyed by the layout as loaded, before any choice
        prof = profile_pair(pair, quick=quick, progress=say)
        prof.save(path, artefact=False)  # a cache file, not an artefact
        if say:
            say(f"saved {path}: this pair on this machine is not measured again")
    else:  # the caller's threads are this process's choice; duo's split is the measured one
        caller_threads_note(pair)
        apply_duo_layout(pair, prof.notes.get("duo_layout"))
    known.profile = prof
    return prof


def cached_profile(pair: Pair, quick: bool = False) -> LatencyProfile:
    """The pair's profile (see `profile`): known, else measured once, saying so, and cached."""
    return profile(pair, quick=quick, verbose=True)


def workload_prompts(pair: Pair) -> tuple[list[str], str]:
    """One shipped prompt per task, in the pair's chat template when its tokenizer has one, and
    words saying which prompts these are."""
    prompts = [load_prompts(t, 1)[0] for t in TASKS]
    chat = " in the chat template" if pair.has_chat_template else ""
    return [pair.as_prompt(p) for p in prompts], f"shipped prompts ({len(TASKS)} tasks){chat}"


def workload_estimate(pair: Pair, prompts: list[str] | None = None, verbose: bool = True) -> Workload:
    """The pair's greedy acceptance on `prompts` (as given), else on `workload_prompts(pair)`:
    measured once per pair and set of prompts (kept on the pair and in the cache beside the
    profiles: alpha depends on the weights and prompts, not on the machine). `Workload.source`
    says which prompts were used; `verbose` says when it measures."""
    if prompts is not None and (isinstance(prompts, str) or not prompts
                                or not all(isinstance(p, str) and p for p in prompts)):
        raise ValueError("workload_prompts must be a non-empty list of non-empty strings")
    known, key = measurements_of(pair), tuple(prompts) if prompts else None
    if key in known.prior_workloads:
        return known.prior_workloads[key]
    if prompts:
        used, source = list(prompts), f"workload_prompts ({len(prompts)} given)"
    else:
        used, source = workload_prompts(pair)
    digest = hashlib.sha256("\0".join(used).encode()).hexdigest()[:12]
    path = profile_cache_path(pair, False).parent.parent / "workloads" / f"{_pair_id(pair)}-{digest}.json"
    if path.exists():
        workload = Workload.from_json(json.loads(path.read_text()))
    else:
        if verbose:
            print(f"measuring this pair's greedy agreement (the prior alpha) on {source}: "
                  f"{len(used)} prompts x up to 64 new tokens", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        workload = replace(measure_workload(pair, used, 64), source=source)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(workload)) + "\n")
        if verbose:
            print(f"  alpha = {workload.alpha:.3f} ({time.perf_counter() - t0:.0f} s); saved {path}",
                  file=sys.stderr, flush=True)
    known.prior_workloads[key] = workload
    return workload
