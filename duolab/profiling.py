"""Measure, on the machine at hand, what the budget model and the simulator run on.

`profile_pair(pair)` times, with warm-up, repeats and medians (CUDA-synchronized when the target
is on a GPU): the target's forward over n new tokens with a KV cache, T_t(n), n = 1..64, and AR's
decode step in the same interleaved passes; its prefill against prompt length; the draft worker's
time per drafted token (the duo path, fast runner) and the in-process draft's (the SpS path); the
channel's round trip; the per-round sync. On an accelerator host it first chooses the calling
process's CPU thread count by timing its CPU-side work at a few counts (`choose_caller_threads`).
The result is a `LatencyProfile` (duolab.latency_profile, the data side).

`measure_workload` measures the acceptance side (how often the draft agrees with the target on
some prompts); `workload_estimate` keeps one per pair for duo's per-round choices
(`budget="auto"`, `catch_up="auto"`, duolab.round_policy).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from duolab.artefacts import describe_machine, machine_fingerprint
from duolab.budget import Workload
from duolab.drafting import ChainDrafter
from duolab.generation import generate
from duolab.latency_profile import LatencyProfile, find_profile, interpolate, portable_source
from duolab.models import Pair
from duolab.paths import DATA_DIR
from duolab.prompts import TASKS, load_prompts
from duolab.runtime import (
    caller_thread_candidates,
    check_threads,
    default_layout,
    remember_caller_threads,
    target_placement,
)
from duolab.sampling import SamplingConfig, logits_to_probs, sample, verify_block
from duolab.worker import draft_worker

VERIFY_SIZES = list(range(1, 65))
PREFILL_SIZES = [16, 32, 64, 128, 256, 512]


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 1000 * (time.perf_counter() - t)


def _token_ids(pair: Pair, n: int) -> list[int]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(4, len(pair.tokenizer), (n,), generator=g).tolist()


def measure_target_and_ar_step(pair: Pair, sizes=VERIFY_SIZES, context: int = 128, repeats: int = 9,
                               warmup: int = 1, ar_burst: int = 8) -> tuple[list[float], float | None]:
    """(median T_t(n) for each n in sizes, median AR decode step), in ms.

    T_t(n) is a forward over n new tokens after `context` cached ones. Each pass times every size
    and then a burst of `ar_burst` back-to-back one-token steps (the first of each burst is
    dropped: AR's steps follow one another, so the weights are warm). Both quantities come from
    the same interleaved passes after the same warm-up, so a slow spell of the machine hits them
    alike and they cannot drift apart the way separately timed loops did (49.5 ms vs 8.1 ms)."""
    model = pair.runner("target")
    ids = _token_ids(pair, context + max(max(sizes), ar_burst))
    times: dict[int, list[float]] = {n: [] for n in sizes}
    ar_times: list[float] = []
    with target_placement(pair.layout):
        model.forward(ids[:context])
        for r in range(warmup + repeats):
            for n in sizes:
                ms = _timed(lambda n=n: model.forward(ids[context:context + n]), pair.target_device)
                model.rollback(context)
                if r >= warmup:
                    times[n].append(ms)
            for i in range(ar_burst):
                ms = _timed(lambda i=i: model.forward([ids[context + i]]), pair.target_device)
                if r >= warmup and i > 0:
                    ar_times.append(ms)
            model.rollback(context)
    return [_median(times[n]) for n in sizes], _median(ar_times) if ar_times else None


def measure_target(pair: Pair, sizes=VERIFY_SIZES, context: int = 128, repeats: int = 9,
                   warmup: int = 1) -> list[float]:
    """Median T_t(n) in ms for each n in sizes (see measure_target_and_ar_step)."""
    return measure_target_and_ar_step(pair, sizes, context, repeats, warmup, ar_burst=0)[0]


def choose_caller_threads(pair: Pair, candidates: list[int] | None = None, repeats: int = 7,
                          budget: int = 4, context: int = 128) -> pd.DataFrame:
    """Time the calling process's CPU-side work at a few torch thread counts and keep the fastest
    in `pair.layout.target_threads` (remembered for pairs loaded later in this process).

    The work is what runs in the calling process: one SpS round (draft `budget` tokens in process
    with the pair's draft runner, a target forward over budget+1 tokens, verification of those
    distributions at temperature 1, top_p 0.9) and one AR step (a one-token forward, sampling). On
    a GPU target the forwards are bound by the CPU's kernel launches, so they count too. Candidates
    default to 1, 2, 4 and torch's default, capped by the cores the process may use; counts are
    interleaved round robin, each pass after an untimed run at that count, medians over passes.
    Returns one row per count (ms per part, total, chosen); on a tie the fewer threads win."""
    if pair.layout is None:
        pair.layout = default_layout(pair.target_device)
    candidates = candidates or caller_thread_candidates(pair.layout)
    for n in candidates:
        check_threads(n, "thread count")
    candidates = sorted(set(candidates))
    check_threads(budget, "budget")
    target = pair.runner("target")
    drafter = ChainDrafter(pair.runner("draft"), SamplingConfig(0.0), None)
    sampling, gen = SamplingConfig(1.0, top_p=0.9), torch.Generator().manual_seed(0)
    ids = _token_ids(pair, context + budget + 8)
    tdev, ddev = pair.target_device, pair.draft_device

    def one_round(r: int) -> dict[str, float]:
        ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]  # as after a round
        parts = {"draft_ms": _timed(lambda: drafter.propose(ctx, budget), ddev)}
        logits = []
        parts["verify_forward_ms"] = _timed(
            lambda: logits.append(target.forward(ids[context:context + budget + 1])), tdev)
        target.rollback(context)
        parts["verify_ms"] = _timed(lambda: verify_block(logits_to_probs(logits[0], sampling),
                                                         ids[context:context + budget], None, gen), tdev)
        parts["ar_step_ms"] = _timed(
            lambda: sample(logits_to_probs(target.forward([ids[context]])[-1], sampling), gen), tdev)
        target.rollback(context)
        return parts

    times: dict[int, list[dict]] = {n: [] for n in candidates}
    target.forward(ids[:context])
    for r in range(repeats):
        for n in candidates:
            with target_placement(replace(pair.layout, target_threads=n)):
                one_round(r + 1)  # untimed: the thread pool resizes on first use
                times[n].append(one_round(r))
    rows = []
    for n, runs in times.items():
        row = {"threads": n, **{k: _median([x[k] for x in runs]) for k in runs[0]}}
        rows.append({**row, "total_ms": sum(v for k, v in row.items() if k != "threads")})
    table = pd.DataFrame(rows)
    best = int(table.threads[table.total_ms.idxmin()])
    table["chosen"] = table.threads == best
    pair.layout.target_threads = best
    remember_caller_threads(pair.target_device, best)
    pair.resources["caller_threads_timings"] = table
    return table


def measure_prefill(pair: Pair, sizes=PREFILL_SIZES, repeats: int = 5) -> dict[int, float]:
    """Median time (ms) of a fresh cache's first forward over a prompt of each length (interleaved)."""
    ids = _token_ids(pair, max(sizes))
    sizes = [s for s in sizes if s < pair.context_length]
    times: dict[int, list[float]] = {n: [] for n in sizes}
    with target_placement(pair.layout):
        for r in range(repeats + 1):
            for n in sizes:
                model = pair.runner("target")
                ms = _timed(lambda n=n, m=model: m.forward(ids[:n]), pair.target_device)
                if r:
                    times[n].append(ms)
    return {n: _median(times[n]) for n in sizes}


def measure_worker(pair: Pair, context: int = 128, repeats: int = 9) -> tuple[float, float, float]:
    """(ms per draft token, fixed ms per request, channel round trip ms) of the duo worker.

    Each request drafts after a context that differs from the last in its final two tokens, as
    after a typical round, so the fixed cost includes re-feeding them."""
    worker = draft_worker(pair)
    ids = _token_ids(pair, context + 8)
    xs, ys = [], []
    for n in (1, 4, 8, 16, 24):
        times = []
        for r in range(repeats + 1):
            ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]
            tree = worker.wait(worker.request(ctx, n, 1), 30.0)
            if tree is None:
                raise RuntimeError("the draft worker did not answer while profiling")
            if r:
                times.append(1000 * (tree.end - tree.start))
        xs.append(n)
        ys.append(_median(times))
    slope, intercept = _fit_line(xs, ys)
    return slope, intercept, 1000 * worker.ping(200)


def measure_sps_draft(pair: Pair, context: int = 128, n: int = 8, repeats: int = 5) -> float:
    """ms per token of SpS's drafter (in process, on the target's core, greedy, the pair's draft
    runner), per round as SpS runs it: re-feed the last two tokens, then draft n."""
    drafter = ChainDrafter(pair.runner("draft"), SamplingConfig(0.0), None)
    ids = _token_ids(pair, context + 8)
    times = []
    with target_placement(pair.layout):
        for r in range(repeats + 1):
            ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]
            t = time.perf_counter()
            drafter.propose(ctx, n)
            if r:
                times.append(1000 * (time.perf_counter() - t) / n)
    return _median(times)


def measure_round_costs(pair: Pair) -> tuple[float, float]:
    """(sync, round overhead) in ms, medians over the rounds of a short duo generation: the sync
    (verify, sample, roll back) and the time between one round's last target event and the next
    round's first (the decoder's own bookkeeping)."""
    # fixed options: the default (per-round choices) would need the profile being measured
    trace = generate(pair, "The", method="duo", max_new_tokens=48, budget=8, catch_up=0).trace
    sync = trace[trace["kind"] == "sync"]
    rounds = trace[trace["side"] == "target"].groupby("round")
    gaps = (rounds["start_s"].min().shift(-1) - rounds["end_s"].max()).dropna()
    return float(1000 * (sync["end_s"] - sync["start_s"]).median()), float(1000 * max(gaps.median(), 0.0))


def _fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def _caller_threads_note(pair: Pair) -> dict:
    """On an accelerator host, the calling process's thread count (chosen by measurement unless
    already set, e.g. by the user); on a CPU-only host the layout's split is kept as it is."""
    if pair.layout is None:
        pair.layout = default_layout(pair.target_device)
    if pair.target_device.type == "cpu":
        return {"caller_threads": pair.layout.target_threads, "caller_threads_from": "cpu layout"}
    if pair.layout.target_threads is not None:
        return {"caller_threads": pair.layout.target_threads, "caller_threads_from": "set before profiling"}
    table = choose_caller_threads(pair)
    return {"caller_threads": pair.layout.target_threads, "caller_threads_from": "measured",
            "caller_threads_total_ms": {int(r.threads): round(r.total_ms, 3) for r in table.itertuples()}}


def profile_pair(pair: Pair, quick: bool = False) -> LatencyProfile:
    """Measure everything in a LatencyProfile (about a minute on 2 CPU cores; seconds if quick)."""
    threads_note = _caller_threads_note(pair)
    sizes = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64] if quick else VERIFY_SIZES
    curve, ar_step = measure_target_and_ar_step(pair, sizes, repeats=5 if quick else 9)
    if quick:  # fill 1..64 by linear interpolation between the measured sizes
        curve = [interpolate(sizes, curve, n) for n in VERIFY_SIZES]
    per_token, overhead, channel = measure_worker(pair, repeats=5 if quick else 9)
    sync, round_overhead = measure_round_costs(pair)
    profile = LatencyProfile(
        machine=machine_name(),
        target=portable_source(pair.target_source), draft=portable_source(pair.draft_source),
        target_device=str(pair.target_device),
        target_forward_ms=curve, prefill_ms=measure_prefill(pair, repeats=1 if quick else 5),
        draft_ms_per_token=per_token, draft_overhead_ms=max(overhead, 0.0),
        sps_draft_ms_per_token=measure_sps_draft(pair, repeats=2 if quick else 9),
        channel_ms=channel, sync_ms=sync, ar_step_ms=ar_step, round_overhead_ms=round_overhead,
        notes={"quick": quick, "torch": torch.__version__, "fingerprint": machine_fingerprint(), "draft_runner": pair.draft_runner,
               "target_runner": pair.target_runner, **threads_note,
               "layout": str(pair.layout), "when": time.strftime("%Y-%m-%d %H:%M")},
    )
    return profile.reconciled()


def find_or_measure(pair: Pair, directory: str | Path, quick: bool = False) -> LatencyProfile:
    """A saved profile of this pair measured on this machine (same fingerprint) from `directory`,
    else a new one.
    On an accelerator host the calling process's threads are still chosen here, by measurement
    on this machine (seconds), unless already set: a saved profile may come from another host."""
    prof = find_profile(pair, directory, machine_fingerprint())
    if prof is None:
        return profile_pair(pair, quick=quick)
    _caller_threads_note(pair)
    return prof


def machine_name() -> str:
    """This machine in words (the profile's `machine`); `notes["fingerprint"]` is what is matched."""
    return describe_machine()


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
            _caller_threads_note(pair)
        pair.resources["latency_profile"] = prof
    return prof


@torch.inference_mode()
def measure_workload(pair: Pair, prompts: list[str], max_new_tokens: int = 128) -> Workload:
    """Greedy agreement alpha -- the fraction of positions of the target's own greedy
    continuations where the draft's argmax equals the target's (one teacher-forced forward of
    each model) -- and the prompts' shapes."""
    if not prompts:
        raise ValueError("measure_workload needs at least one prompt")
    agree = total = 0
    shapes, agreement = [], []
    for prompt in prompts:
        g = generate(pair, prompt, max_new_tokens=max_new_tokens)
        prompt_ids = pair.tokenizer.encode(prompt)
        ids = torch.tensor([prompt_ids + g.token_ids])
        start = len(prompt_ids) - 1
        t = pair.target(ids.to(pair.target_device)).logits[0, start:-1].argmax(-1).cpu()
        d = pair.draft(ids.to(pair.draft_device)).logits[0, start:-1].argmax(-1).cpu()
        agree += int((t == d).sum())
        total += len(t)
        shapes.append((len(prompt_ids), len(g.token_ids)))
        agreement.append((t == d).tolist())
    return Workload(agree / total, shapes, max_new_tokens, agreement)


def workload_estimate(pair: Pair) -> Workload:
    """The pair's acceptance on one shipped prompt per task: measured once, kept on the pair."""
    if "workload_estimate" not in pair.resources:
        prompts = [load_prompts(t, 1)[0] for t in TASKS]
        pair.resources["workload_estimate"] = measure_workload(pair, prompts, 64)
    return pair.resources["workload_estimate"]
