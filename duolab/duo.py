"""DuoDecoding: the draft (CPU worker process) and the target (here) run at the same time.

Round r: the target verifies the block d the draft sent last round, while the draft -- assuming d
will pass -- already drafts the next block (k sequences) after x + d. At the sync point:
  * d rejected at i: commit x + d[:i] + correction; the new block is thrown away (next round
    starts with an empty d; the worker rolls back by itself when it sees the new context);
  * d all accepted: the target's next token t is compared with the k first tokens; if one
    matches, its sequence's remaining tokens are the next d, else the next d is empty.
With `catch_up=c > 0` (an extension, off by default) a round that would start with an empty d
first waits for a c-token chain from the draft and verifies that instead: when the draft is
much faster than the target (t_d << T_t) this trades c*t_d of waiting for a whole target forward
that would otherwise commit a single token.
The first round overlaps the two prefills (the draft drafts a single token), so TTFT stays close
to AR's. Verification is lossless at every temperature: drafts are greedy (point masses), so a
token passes with probability p(token) and the committed token is always distributed as p.
"""

from __future__ import annotations

import time

from duolab.generation import Run, check_budget, register_method
from duolab.models import Pair
from duolab.profiling import auto_budget
from duolab.sampling import choose_candidate, logits_to_probs, sample, verify_block
from duolab.worker import DraftWorker


def draft_worker(pair: Pair) -> DraftWorker:
    """The pair's draft worker, started on first use and restarted if it died."""
    worker = pair.resources.get("draft_worker")
    if worker is not None and not worker.alive:
        worker.close()
        worker = None
    if worker is None:
        layout = pair.layout
        worker = DraftWorker(pair.draft_source, layout.draft_cores if layout else None,
                             layout.draft_threads if layout else 1, runner=pair.draft_runner)
        pair.resources["draft_worker"] = worker
    return worker


def _discard_worker(pair: Pair) -> None:
    worker = pair.resources.pop("draft_worker", None)
    if worker is not None:
        worker.close()


def _check_duo(options: dict) -> None:
    if options.get("budget") != "auto":  # "auto": chosen from the measured profile (duolab.budget)
        check_budget(options)
    k = options.get("max_sequences")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"max_sequences must be an integer >= 1 (1 = single chain), got {k!r}")
    c = options.get("catch_up")
    if isinstance(c, bool) or not isinstance(c, int) or c < 0:
        raise ValueError(f"catch_up must be an integer >= 0 (0 = the paper's schedule), got {c!r}")
    m = options.get("min_draft_prob")
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < 1:
        raise ValueError(f"min_draft_prob must be a number in [0, 1), got {m!r}")
    timeout = options.get("worker_timeout_s")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"worker_timeout_s must be a number > 0, got {timeout!r}")


def _prepare(pair: Pair, options: dict) -> None:
    draft_worker(pair)  # start the worker outside the timed call, like loading a model
    if options["budget"] == "auto":
        auto_budget(pair)  # profiled once per pair, outside the timed call


def _finish_alone(run: Run, target) -> None:
    """The worker is gone: the target completes the generation autoregressively."""
    while not run.done:
        with run.span("target", "forward"):
            logits = target.forward(run.sequence[target.length:])[-1]
        run.target_forwards += 1
        if run.commit([sample(logits_to_probs(logits, run.sampling), run.generator)]):
            return


@register_method("duo", defaults={"budget": 8, "max_sequences": 4, "catch_up": 0, "min_draft_prob": 0.0,
                           "worker_timeout_s": 10.0},
                 check=_check_duo, prepare=_prepare)
def duo(run: Run, budget: int, max_sequences: int, catch_up: int, min_draft_prob: float,
        worker_timeout_s: float) -> None:
    pair = run.pair
    budget = auto_budget(pair) if budget == "auto" else budget
    worker = draft_worker(pair)
    target = pair.runner("target")
    run.draft_runner = worker.runner
    block: list[int] = []  # d: drafted last round, verified this round
    block_start = 1  # draft position of block[0]: 1 after a chosen first token, 0 for a catch-up chain
    k_per_round: list[int] = []
    trees: list[dict] = []
    failed = False
    finished_cleanly = False

    def receive(request: int, kind: str) -> dict | None:
        with run.span("target", "wait"):
            tree = worker.wait(request, worker_timeout_s)
        if tree is not None:
            run.events.append(("draft", kind, tree["start"] - run.t0, tree["end"] - run.t0, run.rounds))
            run.draft_tokens += sum(len(s) for s in tree["sequences"])
        return tree

    try:
        while not run.done:
            context = run.sequence
            n_catch = min(catch_up, run.remaining - 1)
            if not block and run.rounds > 0 and n_catch >= 1 and not failed:
                # Catch-up (optional, off in the paper's schedule): rather than a target forward
                # over an empty block, wait for a short chain first -- cheap when t_d << T_t.
                request = worker.request(context, n_catch, 1, min_draft_prob)
                tree = receive(request, "catch_up") if request is not None else None
                failed = tree is None
                block, block_start = ([] if failed else tree["sequences"][0]), 0
            # the draft works after x + d; first round: one token only, so its prefill overlaps the target's
            n = 1 if run.rounds == 0 else min(budget, run.remaining - len(block) - 1)
            request = worker.request(context + block, n, max_sequences, min_draft_prob) if n >= 1 and not failed else None
            with run.span("target", "forward"):
                logits = target.forward(context[target.length:] + block)[-(len(block) + 1):]
            run.target_forwards += 1
            tree = None
            if request is not None:
                tree = receive(request, "draft")
                if tree is None:
                    failed = True  # died or hung: finish without it
                else:
                    k_per_round.append(len(tree["sequences"]))
            with run.span("target", "sync"):
                probs = logits_to_probs(logits, run.sampling)
                verdict = verify_block(probs, block, None, run.generator)
                target.rollback(len(context) + verdict.accepted)
            run.record_verdict(len(block), verdict.accepted, first_position=block_start)
            token, next_block, chosen = verdict.next_token, [], None
            if tree is not None and verdict.accepted == len(block):
                # token is already a draw from probs[-1] (the bonus after the accepted block)
                chosen, token = choose_candidate(probs[-1], [s[0] for s in tree["sequences"]], run.generator, token)
                run.record_verdict(1, int(chosen is not None), first_position=0)
                if chosen is not None:
                    next_block = tree["sequences"][chosen][1:]
            if tree is not None:
                trees.append({"round": run.rounds, "context_len": len(context) + len(block),
                              "verified": block, "accepted": verdict.accepted, "token": token,
                              "chosen": chosen, **{k: tree[k] for k in ("sequences", "probs", "candidates", "confidence")}})
            run.rounds += 1
            run.commit(block[: verdict.accepted] + [token])
            block, block_start = next_block, 1
            if failed:
                _finish_alone(run, target)
        finished_cleanly = True
    finally:
        if failed or not finished_cleanly:
            _discard_worker(pair)  # a fresh worker for the next call; nothing stale left behind
    run.extra.update(_duo_stats(run, budget, max_sequences, k_per_round, failed, worker))
    run.details["draft_trees"] = trees


def _duo_stats(run: Run, budget, max_sequences, k_per_round, failed, worker) -> dict:
    wall = time.perf_counter() - run.t0
    busy = {"target": 0.0, "draft": 0.0}
    for side, kind, start, end, _ in run.events:
        if kind != "wait":
            busy[side] += end - start
    return {
        "budget_used": budget,
        "k_per_round": k_per_round,
        "mean_k": sum(k_per_round) / len(k_per_round) if k_per_round else 0.0,
        "idle_fraction_target": max(0.0, 1 - busy["target"] / wall),
        "idle_fraction_draft": max(0.0, 1 - busy["draft"] / wall),
        "worker_failed": failed,
    }
