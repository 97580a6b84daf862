"""Measure, on the machine at hand, what the budget model and the simulator run on.

`profile_pair(pair)` times, with warm-up, repeats and medians (CUDA-synchronized when the target
is on a GPU): the target's forward over n new tokens with a KV cache, T_t(n), n = 1..64, and AR's
decode step in the same interleaved passes; its prefill against prompt length; the draft worker's
time per drafted token (the duo path, fast runner) and the in-process draft's (the SpS path); the
channel's round trip; the per-round sync; a batched draft step of B branches (B = 1..16, whose
slope is t_m, a branch's marginal cost). On an accelerator host it first chooses the calling
process's CPU thread count by timing its CPU-side work at a few counts
(duolab.measure.caller_threads).
The result is a `LatencyProfile` (duolab.latency_profile, the data side).

`measure_workload` measures the acceptance side (how often the draft agrees with the target on
some prompts). duolab.measure.profile_store keeps one profile and one workload per pair for duo's
per-round choices (`budget="auto"`, `catch_up="auto"`, duolab.methods.round_policy).
"""

from __future__ import annotations

import time

import torch

from duolab.artefacts import describe_machine, machine_fingerprint
from duolab.latency_profile import (
    LOOKUP_CAP,
    LatencyProfile,
    Workload,
    fit_line,
    interpolate,
    portable_source,
)
from duolab.measure.caller_threads import caller_threads_note, choose_duo_layout
from duolab.measure.stopwatch import median, random_ids, timed_ms
from duolab.methods import decode
from duolab.methods.drafting import ChainDrafter, DraftPlan
from duolab.methods.retrieval import PromptLookupDrafter, Retrieval
from duolab.methods.worker import draft_worker
from duolab.models import Pair
from duolab.prompts import TASKS, load_prompts
from duolab.runners.fast_llama import FastLlama
from duolab.runtime import target_placement
from duolab.sampling import SamplingConfig

VERIFY_SIZES = list(range(1, 65))
PREFILL_SIZES = [16, 32, 64, 128, 256, 512]
BRANCH_SIZES = list(range(1, 17))


def measure_target_and_ar_step(pair: Pair, sizes=VERIFY_SIZES, context: int = 128, repeats: int = 9,
                               warmup: int = 1, ar_burst: int = 8) -> tuple[list[float], float | None]:
    """(median T_t(n) for each n in sizes, median AR decode step), in ms.

    T_t(n) is a forward over n new tokens after `context` cached ones. Each pass times every size
    and then a burst of `ar_burst` back-to-back one-token steps (the first of each burst is
    dropped: AR's steps follow one another, so the weights are warm). Both quantities come from
    the same interleaved passes after the same warm-up, so a slow spell of the machine hits them
    alike and they cannot drift apart the way separately timed loops did (49.5 ms vs 8.1 ms)."""
    model = pair.runner("target")
    ids = random_ids(pair, context + max(max(sizes), ar_burst))
    times: dict[int, list[float]] = {n: [] for n in sizes}
    ar_times: list[float] = []
    with target_placement(pair.layout):
        model.forward(ids[:context])
        for r in range(warmup + repeats):
            for n in sizes:
                ms = timed_ms(lambda n=n: model.forward(ids[context:context + n]), pair.target_device)
                model.rollback(context)
                if r >= warmup:
                    times[n].append(ms)
            for i in range(ar_burst):
                ms = timed_ms(lambda i=i: model.forward([ids[context + i]]), pair.target_device)
                if r >= warmup and i > 0:
                    ar_times.append(ms)
            model.rollback(context)
    return [median(times[n]) for n in sizes], median(ar_times) if ar_times else None


def measure_target(pair: Pair, sizes=VERIFY_SIZES, context: int = 128, repeats: int = 9,
                   warmup: int = 1) -> list[float]:
    """Median T_t(n) in ms for each n in sizes (see measure_target_and_ar_step)."""
    return measure_target_and_ar_step(pair, sizes, context, repeats, warmup, ar_burst=0)[0]


def measure_prefill(pair: Pair, sizes=PREFILL_SIZES, repeats: int = 5) -> dict[int, float]:
    """Median time (ms) of a fresh cache's first forward over a prompt of each length (interleaved)."""
    ids = random_ids(pair, max(sizes))
    sizes = [s for s in sizes if s < pair.context_length]
    times: dict[int, list[float]] = {n: [] for n in sizes}
    with target_placement(pair.layout):
        for r in range(repeats + 1):
            for n in sizes:
                model = pair.runner("target")
                ms = timed_ms(lambda n=n, m=model: m.forward(ids[:n]), pair.target_device)
                if r:
                    times[n].append(ms)
    return {n: median(times[n]) for n in sizes}


def measure_worker(pair: Pair, context: int = 128, repeats: int = 9) -> tuple[float, float, float]:
    """(ms per draft token, fixed ms per request, channel round trip ms) of the duo worker.

    Each request drafts after a context that differs from the last in its final two tokens, as
    after a typical round, so the fixed cost includes re-feeding them."""
    worker = draft_worker(pair)
    ids = random_ids(pair, context + 8)
    xs, ys = [], []
    for n in (1, 4, 8, 16, 24):
        times = []
        for r in range(repeats + 1):
            ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]
            tree = worker.wait(worker.request(ctx, DraftPlan(n)), 30.0)
            if tree is None:
                raise RuntimeError("the draft worker did not answer while profiling")
            if r:
                times.append(1000 * (tree.end - tree.start))
        xs.append(n)
        ys.append(median(times))
    slope, intercept = fit_line(xs, ys)
    return slope, intercept, 1000 * worker.ping(200)


def measure_sps_draft(pair: Pair, context: int = 128, n: int = 8, repeats: int = 5) -> float:
    """ms per token of SpS's drafter (in process, on the target's core, greedy, the pair's draft
    runner), per round as SpS runs it: re-feed the last two tokens, then draft n."""
    drafter = ChainDrafter(pair.runner("draft"), SamplingConfig(0.0), None)
    ids = random_ids(pair, context + 8)
    times = []
    with target_placement(pair.layout):
        for r in range(repeats + 1):
            ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]
            t = time.perf_counter()
            drafter.draft(ctx, DraftPlan(n))
            if r:
                times.append(1000 * (time.perf_counter() - t) / n)
    return median(times)


def measure_branch_steps(pair: Pair, sizes=BRANCH_SIZES, context: int = 128, repeats: int = 9) -> list[float]:
    """Median ms of one batched draft step of B branches (B in sizes) with the draft's fast runner
    on this process's cores: B tokens at one position after a shared `context`, each seeing the
    prefix and itself (FastLlama.forward_tree), sizes interleaved within each pass. A step of
    B branches costs t_d + (B - 1) * t_m; `fit_line` over these gives t_m, a branch's marginal cost."""
    runner = pair.runner("draft")
    if not isinstance(runner, FastLlama):
        raise ValueError(f"batched branches need the fast draft runner, the pair's is {pair.draft_runner!r}")
    ids = random_ids(pair, context + max(sizes))
    times: dict[int, list[float]] = {b: [] for b in sizes}
    with target_placement(pair.layout):
        runner.forward(ids[:context])  # (runner() hands it over empty)
        for r in range(repeats + 1):
            for b in sizes:
                visible = torch.zeros(b, context + b, dtype=torch.bool)
                visible[:, :context] = True
                visible[:, context:] = torch.eye(b, dtype=torch.bool)
                ms = timed_ms(lambda b=b, v=visible: runner.forward_tree(ids[context:context + b], [context] * b, v),
                              torch.device("cpu"))
                runner.rollback(context)
                if r:
                    times[b].append(ms)
    return [median(times[b]) for b in sizes]


def measure_round_costs(pair: Pair) -> tuple[float, float]:
    """(sync, round overhead) in ms, medians over the rounds of a short duo generation: the sync
    (verify, sample, roll back) and the time between one round's last target event and the next
    round's first (the decoder's own bookkeeping)."""
    # fixed options: the default (per-round choices) would need the profile being measured
    trace = decode(pair, "The", method="duo", max_new_tokens=48, budget=8, catch_up=0).trace
    sync = trace[trace["kind"] == "sync"]
    rounds = trace[trace["side"] == "target"].groupby("round")
    gaps = (rounds["start_s"].min().shift(-1) - rounds["end_s"].max()).dropna()
    return float(1000 * (sync["end_s"] - sync["start_s"]).median()), float(1000 * max(gaps.median(), 0.0))


def measure_lookup(pair: Pair, context: int = 512, model_tokens: int = 8, rounds: int = 40) -> float:
    """One round's retrieval in ms (median over `rounds`): prompt lookup's chains at the root and
    after each of `model_tokens` drafted tokens (`Retrieval.grafts`), on the shipped prompts' text
    (a context of `context` tokens, one token longer each round, the index kept as in a generation)."""
    text = "\n".join(p for task in TASKS for p in load_prompts(task, 3))
    ids = pair.tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = (ids * (1 + (context + rounds + model_tokens) // max(len(ids), 1)))[: context + rounds + model_tokens]
    source = Retrieval(LOOKUP_CAP)
    times = []
    for r in range(rounds):
        end = context + r
        start = time.perf_counter()
        source.grafts(ids[:end], ids[end:end + model_tokens], 0.5, 64)
        times.append(1000 * (time.perf_counter() - start))
    return median(times)


def estimate_seconds(pair: Pair, quick: bool) -> float:
    """About how long `profile_pair` takes on this pair: two probe forwards of the target (1 and 64
    new tokens), scaled by the forwards each stage runs (target curve, prefill, round costs)."""
    runner = pair.runner("target")
    ids = random_ids(pair, 128 + 64)
    with target_placement(pair.layout):
        runner.forward(ids[:128])
        one = timed_ms(lambda: runner.forward(ids[128:129]), pair.target_device)
        runner.rollback(128)
        many = timed_ms(lambda: runner.forward(ids[128:192]), pair.target_device)
    per_token = max(many - one, 0.0) / 63  # the target's forward is about one + (n - 1) * per_token
    sizes, passes = ([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], 6) if quick else (VERIFY_SIZES, 10)
    curve = passes * sum(one + (n - 1) * per_token + 8 * one / len(sizes) for n in sizes)
    prefill = (2 if quick else 6) * sum(one + (n - 1) * per_token for n in PREFILL_SIZES)
    rounds = 48 * one * 1.5  # a short duo generation and the draft's own timings
    return (curve + prefill + rounds) / 1000 + (5 if quick else 15)


def profile_pair(pair: Pair, quick: bool = False, progress=None) -> LatencyProfile:
    """Measure everything in a LatencyProfile (about a minute on 2 CPU cores; seconds if quick).
    `progress(message)`, when given, hears what is measured, the time estimate and each stage."""
    say = progress or (lambda message: None)
    if progress:
        say(f"profiling this pair on this machine ({'quick' if quick else 'full'}), about "
            f"{estimate_seconds(pair, quick):.0f} s: target forwards over 1..64 new tokens, AR's step, the "
            f"draft worker, the channel, a duo round's sync, batched draft branches, prefill, SpS's draft")
    t0 = time.perf_counter()
    stage = [0]

    def done(what: str) -> None:
        stage[0] += 1
        say(f"  [{stage[0]}/6] {what} ({time.perf_counter() - t0:.0f} s)")

    threads_note = caller_threads_note(pair)
    layout_as_loaded = str(pair.layout)
    duo_layout = choose_duo_layout(pair)
    sizes = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64] if quick else VERIFY_SIZES
    curve, ar_step = measure_target_and_ar_step(pair, sizes, repeats=5 if quick else 9)
    if quick:  # fill 1..64 by linear interpolation between the measured sizes
        curve = [interpolate(sizes, curve, n) for n in VERIFY_SIZES]
    done(f"target T_t(n): {curve[0]:.1f} ms at n=1, {curve[-1]:.1f} ms at n=64; AR step {ar_step:.1f} ms")
    per_token, overhead, channel = measure_worker(pair, repeats=5 if quick else 9)
    done(f"draft worker: {per_token:.2f} ms per token + {max(overhead, 0.0):.2f} ms per request; "
         f"channel {channel:.2f} ms")
    sync, round_overhead = measure_round_costs(pair)
    done(f"duo round: sync {sync:.2f} ms, bookkeeping {round_overhead:.2f} ms")
    branches = measure_branch_steps(pair, repeats=3 if quick else 9) if pair.draft_runner == "fast" else []
    done(f"batched draft branches: {len(branches)} sizes")
    prefill = measure_prefill(pair, repeats=1 if quick else 5)
    done(f"prefill: {max(prefill.values()):.0f} ms at {max(prefill)} tokens")
    sps_draft = measure_sps_draft(pair, repeats=2 if quick else 9)
    lookup = measure_lookup(pair)
    done(f"SpS's in-process draft: {sps_draft:.2f} ms per token; a round's prompt lookups {lookup:.2f} ms")
    profile = LatencyProfile(
        machine=machine_name(),
        target=portable_source(pair.target_source), draft=portable_source(pair.draft_source),
        target_device=str(pair.target_device),
        target_forward_ms=curve, prefill_ms=prefill,
        draft_ms_per_token=per_token, draft_overhead_ms=max(overhead, 0.0),
        sps_draft_ms_per_token=sps_draft,
        channel_ms=channel, sync_ms=sync, ar_step_ms=ar_step, round_overhead_ms=round_overhead,
        draft_branch_ms=branches, lookup_ms=lookup, notes={"quick": quick, "torch": torch.__version__, "fingerprint": machine_fingerprint(), "draft_runner": pair.draft_runner,
               "target_runner": pair.target_runner, **threads_note, "duo_layout": duo_layout,
               "layout": layout_as_loaded, "layout_chosen": str(pair.layout), "when": time.strftime("%Y-%m-%d %H:%M")},
    )
    return profile.reconciled()


def machine_name() -> str:
    """This machine in words (the profile's `machine`); `notes["fingerprint"]` is what is matched."""
    return describe_machine()


@torch.inference_mode()
def measure_workload(pair: Pair, prompts: list[str], max_new_tokens: int = 128) -> Workload:
    """Greedy agreement alpha -- the fraction of positions of the target's own greedy
    continuations where the draft's argmax equals the target's (one teacher-forced forward of
    each model) -- and the prompts' shapes."""
    if not prompts:
        raise ValueError("measure_workload needs at least one prompt")
    agree = total = 0
    shapes, agreement, lookups = [], [], []
    for prompt in prompts:
        g = decode(pair, prompt, max_new_tokens=max_new_tokens)
        prompt_ids = pair.tokenizer.encode(prompt)
        ids = torch.tensor([prompt_ids + g.token_ids])
        start = len(prompt_ids) - 1
        t = pair.target(ids.to(pair.target_device)).logits[0, start:-1].argmax(-1).cpu()
        d = pair.draft(ids.to(pair.draft_device)).logits[0, start:-1].argmax(-1).cpu()
        agree += int((t == d).sum())
        total += len(t)
        shapes.append((len(prompt_ids), len(g.token_ids)))
        agreement.append((t == d).tolist())
        lookups.append(prompt_lookups(prompt_ids, g.token_ids))
    return Workload(agree / total, shapes, max_new_tokens, agreement, lookups=lookups)


def prompt_lookups(prompt_ids: list[int], output: list[int], max_ngram: int = 3,
                   cap: int = LOOKUP_CAP) -> list[tuple[int, int]]:
    """Per position j of a greedy `output`: (how many tokens prompt lookup proposes from the context
    prompt + output[:j], at most `cap`; how many of them output[j:] continues with)."""
    drafter, out = PromptLookupDrafter(max_ngram), []
    for j in range(len(output)):
        proposal = drafter.lookup(prompt_ids + output[:j], cap)
        matched = 0
        while matched < len(proposal) and j + matched < len(output) and proposal[matched] == output[j + matched]:
            matched += 1
        out.append((len(proposal), matched))
    return out


