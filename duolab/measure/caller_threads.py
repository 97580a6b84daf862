"""The calling process's torch thread count on an accelerator host, chosen by measurement.

The calling process does CPU work (kernel launches, the in-process SpS draft, sampling and
verification), and torch's default thread count (one per core) can make that several times
slower; `choose_caller_threads` times it at a few counts and keeps the fastest.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import torch

from duolab.measure.pair_measurements import measurements_of
from duolab.measure.stopwatch import median, random_ids, timed_ms
from duolab.methods.drafting import ChainDrafter, DraftPlan
from duolab.models import Pair
from duolab.runtime import (
    caller_thread_candidates,
    check_threads,
    default_layout,
    give_worker_the_rest,
    remember_caller_threads,
    target_placement,
    worker_thread_candidates,
)
from duolab.sampling import SamplingConfig, logits_to_probs, sample, verify_block


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
    ids = random_ids(pair, context + budget + 8)
    tdev, ddev = pair.target_device, pair.draft_device

    def one_round(r: int) -> dict[str, float]:
        ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]  # as after a round
        parts = {"draft_ms": timed_ms(lambda: drafter.draft(ctx, DraftPlan(budget)), ddev)}
        logits = []
        parts["verify_forward_ms"] = timed_ms(
            lambda: logits.append(target.forward(ids[context:context + budget + 1])), tdev)
        target.rollback(context)
        parts["verify_ms"] = timed_ms(lambda: verify_block(logits_to_probs(logits[0], sampling),
                                                         ids[context:context + budget], None, gen), tdev)
        parts["ar_step_ms"] = timed_ms(
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
        row = {"threads": n, **{k: median([x[k] for x in runs]) for k in runs[0]}}
        rows.append({**row, "total_ms": sum(v for k, v in row.items() if k != "threads")})
    table = pd.DataFrame(rows)
    best = int(table.threads[table.total_ms.idxmin()])
    table["chosen"] = table.threads == best
    pair.layout.target_threads = best
    remember_caller_threads(pair.target_device, best)
    measurements_of(pair).caller_threads_timings = table
    return table


def caller_threads_note(pair: Pair) -> dict:
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


def choose_duo_layout(pair: Pair, repeats: int = 5, n_tokens: int = 8, context: int = 128) -> dict:
    """duo's split of a host's cores, by measurement, and why (recorded in the profile's notes).

    On an accelerator host the calling process needs only the threads the target's launches and
    verification need (`choose_caller_threads` without the in-process draft: the fewest threads
    within 5 % of the fastest), and the draft worker gets every other core. Then, on any host where
    the worker has more than one core, its draft step is timed at 1, 2, 4, 8 and all of its cores
    (round robin, medians) and the fastest count is kept. A 2-core CPU keeps 1 + 1."""
    from duolab.methods.worker import discard_worker, draft_worker, rekey_worker

    if pair.layout is None:
        pair.layout = default_layout(pair.target_device)
    note: dict = {}
    if pair.target_device.type != "cpu":
        table = measurements_of(pair).caller_threads_timings  # measured for SpS's choice already?
        if table is None:
            table = choose_caller_threads(pair, repeats=repeats)
        target_only = table.verify_forward_ms + table.verify_ms + table.ar_step_ms
        fastest = target_only.min()
        duo_caller = int(table.threads[target_only <= 1.05 * fastest].min())
        pair.layout = give_worker_the_rest(pair.layout, duo_caller)
        discard_worker(pair)  # one started on the old cores
        note.update(duo_caller_threads=duo_caller, duo_caller_ms={int(t): round(float(ms), 3) for t, ms in
                                                                  zip(table.threads, target_only, strict=True)})
    candidates = worker_thread_candidates(pair.layout)
    if len(candidates) == 1:
        pair.layout.draft_threads = candidates[0]
        return {**note, "worker_cores": pair.layout.draft_cores, "worker_threads": candidates[0],
                "worker_threads_from": "one core for the worker: nothing to choose"}
    worker = draft_worker(pair)
    ids = random_ids(pair, context + 8)
    times: dict[int, list[float]] = {n: [] for n in candidates}
    for r in range(repeats + 1):
        for n in candidates:
            worker.set_threads(n)
            ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]
            tree = worker.wait(worker.request(ctx, DraftPlan(n_tokens)), 30.0)
            if tree is None:
                raise RuntimeError("the draft worker did not answer while choosing its threads")
            if r:  # the first pass warms each count's thread pool
                times[n].append(1000 * (tree.end - tree.start) / n_tokens)
    per_token = {n: median(ts) for n, ts in times.items()}
    best = min(per_token, key=lambda n: (per_token[n], n))
    worker.set_threads(best)
    pair.layout.draft_threads = best
    rekey_worker(pair)
    return {**note, "worker_cores": pair.layout.draft_cores, "worker_threads": best,
            "worker_threads_from": "measured: the fastest draft step of the candidates",
            "worker_ms_per_token": {n: round(ms, 3) for n, ms in per_token.items()}}


def apply_duo_layout(pair: Pair, note: dict | None) -> None:
    """Take duo's split recorded in a profile of this machine and pair (`choose_duo_layout`'s note),
    so a new process starts its worker on the measured cores and threads without measuring again."""
    if not note or "worker_threads" not in note or pair.layout is None:
        return
    if note.get("worker_cores"):
        pair.layout.draft_cores = list(note["worker_cores"])
    pair.layout.draft_threads = int(note["worker_threads"])
    if note.get("duo_caller_threads"):
        pair.layout.duo_target_threads = int(note["duo_caller_threads"])
