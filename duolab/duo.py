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
A worker that dies or hangs mid-generation is dropped; the target finishes alone (AR) and the
stats say `worker_failed`.
"""

from __future__ import annotations

import time

from duolab.decoding import continue_autoregressively
from duolab.generation import Run, check_budget, register_method
from duolab.models import Pair
from duolab.profiling import auto_budget
from duolab.sampling import choose_candidate, logits_to_probs, verify_block
from duolab.worker import DraftReply, DraftWorker, discard_worker, draft_worker


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


@register_method("duo", defaults={"budget": 8, "max_sequences": 4, "catch_up": 0, "min_draft_prob": 0.0,
                           "worker_timeout_s": 10.0},
                 check=_check_duo, prepare=_prepare)
def duo(run: Run, budget: int | str, max_sequences: int, catch_up: int, min_draft_prob: float,
        worker_timeout_s: float) -> None:
    budget = auto_budget(run.pair) if budget == "auto" else budget
    worker = draft_worker(run.pair)
    run.draft_runner = worker.runner
    draft = DraftSide(run, worker, max_sequences, min_draft_prob, worker_timeout_s)
    trees = schedule(run, draft, budget, catch_up)
    run.extra.update(_duo_stats(run, budget, trees, draft.failed))
    run.details["draft_trees"] = trees


def schedule(run: Run, draft: DraftSide, budget: int, catch_up: int) -> list[dict]:
    """The rounds of DuoDecoding (module docstring); returns one record per drafted tree."""
    target = run.pair.runner("target")
    block: list[int] = []  # d: drafted last round, verified this round
    block_start = 1  # draft position of block[0]: 1 after a chosen first token, 0 for a catch-up chain
    trees: list[dict] = []
    while not run.done:
        context = run.sequence
        if not block and run.rounds > 0 and catch_up:
            block, block_start = _catch_up(draft, context, min(catch_up, run.remaining - 1)), 0
        # the draft works after x + d while the target verifies d; in the first round it drafts
        # one token only, so its prefill overlaps the target's
        n = 1 if run.rounds == 0 else min(budget, run.remaining - len(block) - 1)
        request = draft.ask(context + block, n)
        with run.span("target", "forward"):
            logits = target.forward(context[target.length:] + block)[-(len(block) + 1):]
        run.target_forwards += 1
        tree = draft.collect(request, "draft")
        with run.span("target", "sync"):
            probs = logits_to_probs(logits, run.sampling)
            verdict = verify_block(probs, block, None, run.generator)
            target.rollback(len(context) + verdict.accepted)
        run.record_verdict(len(block), verdict.accepted, first_position=block_start)
        token, chosen = verdict.next_token, None
        if tree is not None and verdict.accepted == len(block):
            # all of d passed: the target's next token (already a draw from probs[-1]) picks the sequence
            chosen, token = choose_candidate(probs[-1], tree.firsts, run.generator, token)
            run.record_verdict(1, int(chosen is not None), first_position=0)
        if tree is not None:
            trees.append(_tree_record(run, block, verdict.accepted, token, chosen, tree))
        run.rounds += 1
        run.commit(block[: verdict.accepted] + [token])
        block, block_start = (tree.sequences[chosen][1:] if chosen is not None else []), 1
        if draft.failed:  # the worker died or hung: the target finishes alone
            continue_autoregressively(run, target)
    return trees


class DraftSide:
    """The draft worker as one generation sees it: `ask` for a tree (returns at once), `collect`
    it (the wait and the worker's drafting go into the trace). Once the worker fails -- dead, or
    no answer within `timeout_s` -- it is stopped (a fresh one starts for the next call), `failed`
    is set and every later ask gets nothing."""

    def __init__(self, run: Run, worker: DraftWorker, max_sequences: int, min_prob: float, timeout_s: float):
        self.run, self.worker = run, worker
        self.max_sequences, self.min_prob, self.timeout_s = max_sequences, min_prob, timeout_s
        self.failed = False

    def ask(self, context: list[int], n: int, max_sequences: int | None = None) -> int | None:
        """Request n draft tokens after context; the request id, or None when nothing was asked."""
        if self.failed or n < 1:
            return None
        request = self.worker.request(context, n, max_sequences or self.max_sequences, self.min_prob)
        if request is None:
            self._fail()
        return request

    def collect(self, request: int | None, kind: str) -> DraftReply | None:
        if request is None:
            return None
        run = self.run
        with run.span("target", "wait"):
            tree = self.worker.wait(request, self.timeout_s)
        if tree is None:
            self._fail()
            return None
        run.events.append(("draft", kind, tree.start - run.t0, tree.end - run.t0, run.rounds))
        run.draft_tokens += tree.n_tokens
        return tree

    def _fail(self) -> None:
        self.failed = True
        discard_worker(self.run.pair, self.worker)


def _catch_up(draft: DraftSide, context: list[int], n: int) -> list[int]:
    """Catch-up (an extension, off in the paper's schedule): rather than a target forward over an
    empty block, wait for a short chain of n draft tokens and verify that -- cheap when t_d << T_t."""
    chain = draft.collect(draft.ask(context, n, max_sequences=1), "catch_up")
    return chain.sequences[0] if chain is not None else []


def _tree_record(run: Run, block: list[int], accepted: int, token: int, chosen: int | None,
                 tree: DraftReply) -> dict:
    """A round of run.details["draft_trees"] (drawn by duolab.draft_trees), before its commit."""
    return {"round": run.rounds, "context_len": len(run.sequence) + len(block), "verified": block,
            "accepted": accepted, "token": token, "chosen": chosen, "sequences": tree.sequences,
            "probs": tree.probs, "candidates": tree.candidates, "confidence": tree.confidence}


def _duo_stats(run: Run, budget: int, trees: list[dict], failed: bool) -> dict:
    wall = time.perf_counter() - run.t0
    busy = {"target": 0.0, "draft": 0.0}
    for side, kind, start, end, _ in run.events:
        if kind != "wait":
            busy[side] += end - start
    k_per_round = [len(tree["sequences"]) for tree in trees]
    return {
        "budget_used": budget,
        "k_per_round": k_per_round,
        "mean_k": sum(k_per_round) / len(k_per_round) if k_per_round else 0.0,
        "idle_fraction_target": max(0.0, 1 - busy["target"] / wall),
        "idle_fraction_draft": max(0.0, 1 - busy["draft"] / wall),
        "worker_failed": failed,
    }
