"""DuoDecoding: the draft (CPU worker process) and the target (here) run at the same time.

Round r: the target verifies the block d the draft sent last round, while the draft -- assuming d
will pass -- already drafts the next block (k sequences) after x + d. At the sync point:
  * d all accepted: the target's next token t is compared with the k first tokens; if one
    matches, its sequence's remaining tokens are the next d;
  * d rejected at i with correction t: in the paper's schedule the new block is thrown away.
    Here the draft also spends the rest of the target's forward on *outcome chains*: for the
    likeliest outcomes "rejected at i, corrected to one of the draft's next-best tokens there" it drafts a short
    continuation (ranked by the draft's own probabilities; drafting stops when the target says
    its forward is done, or at the forward's predicted end, so the sync waits one step at most). If x + d[:i] + t is one of them, its chain is the next d.
  * otherwise the next round has nothing to verify. It either verifies the empty block (a target
    forward for one token: the paper's schedule) or first waits for a catch-up chain of c draft
    tokens, whichever the profile and the running alpha say commits more per ms
    (duolab.round_policy). `budget="auto"` likewise chooses each round's draft budget.
The first round overlaps the two prefills (the draft drafts a single token), so TTFT stays close
to AR's. Verification is lossless at every temperature: drafts are greedy (point masses), so a
token passes with probability p(token) and the committed token is always distributed as p; which
block is verified next depends only on tokens the target committed.
`duo(budget=8, catch_up=0, outcomes=False)` is the paper's schedule.
A worker that dies or hangs mid-generation is dropped; the target finishes alone (AR) and the
stats say `worker_failed`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from duolab.arguments import is_number, is_whole
from duolab.decoding import continue_autoregressively
from duolab.drafting import Outcome
from duolab.generation import Run, check_budget, register_method
from duolab.models import Pair
from duolab.profiling import cached_profile, workload_estimate
from duolab.round_policy import RoundPolicy, rank_outcomes
from duolab.sampling import choose_candidate, logits_to_probs, verify_block
from duolab.worker import DraftReply, DraftWorker, discard_worker, draft_worker


def _check_duo(options: dict) -> None:
    if options.get("budget") != "auto":  # "auto": chosen each round (duolab.round_policy)
        check_budget(options)
    k = options.get("max_sequences")
    if not is_whole(k, 1):
        raise ValueError(f"max_sequences must be an integer >= 1 (1 = single chain), got {k!r}")
    c = options.get("catch_up")
    if c != "auto" and not is_whole(c, 0):
        raise ValueError(f"catch_up must be 'auto' or an integer >= 0 (0 = the paper's schedule), got {c!r}")
    if not isinstance(options.get("outcomes"), bool):
        raise ValueError(f"outcomes must be True or False, got {options.get('outcomes')!r}")
    timeout = options.get("worker_timeout_s")
    if not is_number(timeout) or timeout <= 0:
        raise ValueError(f"worker_timeout_s must be a number > 0, got {timeout!r}")


def _needs_profile(options: dict) -> bool:
    return options["budget"] == "auto" or options["catch_up"] == "auto"


def _prepare(pair: Pair, options: dict) -> None:
    draft_worker(pair)  # start the worker outside the timed call, like loading a model
    if _needs_profile(options):  # profile and acceptance estimate: once per pair, outside the timed call
        cached_profile(pair, quick=True)
        workload_estimate(pair)


@register_method("duo", defaults={"budget": "auto", "max_sequences": 4, "catch_up": "auto", "outcomes": True,
                           "worker_timeout_s": 10.0},
                 check=_check_duo, prepare=_prepare)
def duo(run: Run, budget: int | str, max_sequences: int, catch_up: int | str, outcomes: bool,
        worker_timeout_s: float) -> None:
    options = {"budget": budget, "catch_up": catch_up, "outcomes": outcomes}
    profile, prior = None, 0.5
    if _needs_profile(options):
        profile, prior = cached_profile(run.pair, quick=True), workload_estimate(run.pair).alpha
    policy = RoundPolicy.from_options(profile, prior, budget, catch_up, outcomes)
    worker = draft_worker(run.pair)
    run.draft_runner = worker.runner
    draft = DraftSide(run, worker, max_sequences, worker_timeout_s)
    trees = schedule(run, draft, policy)
    run.extra.update(_duo_stats(run, policy, trees, draft.failed))
    run.details["draft_trees"] = trees


@dataclass
class Block:
    """The drafted tokens a round verifies, with the draft's probability and next-best tokens at
    each (for ranking its rejection outcomes) and how it came: "tree" (the rest of the sequence the
    target's token picked), "outcome" (a pre-drafted outcome chain), "catch_up" or "empty"."""

    tokens: list[int] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    alternatives: list[list[tuple[int, float]]] = field(default_factory=list)
    source: str = "empty"

    @property
    def first_position(self) -> int:
        """Draft position of tokens[0] in its round: 0 for a catch-up chain, else 1 (after the
        sequence's first token or the outcome's correction)."""
        return 0 if self.source == "catch_up" else 1


def schedule(run: Run, draft: DraftSide, policy: RoundPolicy) -> list[dict]:
    """The rounds of DuoDecoding (module docstring); returns one record per drafted tree."""
    target = run.pair.runner("target")
    block, trees = Block(), []
    while not run.done:
        context = run.sequence
        if not block.tokens and run.rounds > 0:
            run.extra["empty_starts"] = run.extra.get("empty_starts", 0) + 1
            block = _catch_up(draft, context, min(policy.catch_up_tokens(), run.remaining - 1))
        m = len(block.tokens)
        # the draft works after x + d while the target verifies d; in the first round it drafts
        # one token only, so its prefill overlaps the target's
        n = 1 if run.rounds == 0 else min(policy.draft_budget(m + 1), run.remaining - m - 1)
        wanted = rank_outcomes(block.probs, block.alternatives, len(context)) if policy.outcomes else []
        ms = policy.deadline_ms(m + 1)  # outcome chains stop then, or when the forward is done
        request = draft.ask(context + block.tokens, n, wanted, policy.outcome_length(),
                            time.perf_counter() + ms / 1000 if ms else 0.0)
        with run.span("target", "forward"):
            logits = target.forward(context[target.length:] + block.tokens)[-(m + 1):]
        run.target_forwards += 1
        tree = draft.collect(request, "draft")
        with run.span("target", "sync"):
            probs = logits_to_probs(logits, run.sampling)
            verdict = verify_block(probs, block.tokens, None, run.generator)
            target.rollback(len(context) + verdict.accepted)
        run.record_verdict(m, verdict.accepted, first_position=block.first_position)
        policy.observe(min(m, verdict.accepted + 1), verdict.accepted)
        token, chosen, next_block, used = verdict.next_token, None, Block(), None
        if tree is not None and verdict.accepted == m:
            # all of d passed: the target's next token (already a draw from probs[-1]) picks the sequence
            chosen, token = choose_candidate(probs[-1], tree.firsts, run.generator, token)
            run.record_verdict(1, int(chosen is not None), first_position=0)
            if chosen is not None:
                next_block = Block(tree.sequences[chosen][1:], tree.probs[chosen][1:],
                                   tree.alternatives[chosen][1:], "tree")
        elif tree is not None:  # d rejected at `accepted`: was this outcome pre-drafted?
            run.extra["rejections"] = run.extra.get("rejections", 0) + 1
            used = _find_outcome(tree.outcomes, len(context) + verdict.accepted, token)
            if used is not None:
                run.extra["outcome_hits"] = run.extra.get("outcome_hits", 0) + 1
                hit = tree.outcomes[used]
                next_block = Block(hit.tokens[1:], hit.probs[1:], hit.alternatives[1:], "outcome")
        if tree is not None:
            trees.append(_tree_record(run, block, verdict.accepted, token, chosen, tree, n, used))
        run.rounds += 1
        run.commit(block.tokens[: verdict.accepted] + [token])
        block = next_block
        if draft.failed:  # the worker died or hung: the target finishes alone
            continue_autoregressively(run, target)
    return trees


def _find_outcome(outcomes: list[Outcome], prefix: int, token: int) -> int | None:
    """Index of the outcome chain whose prefix and correction are what the target committed."""
    return next((i for i, o in enumerate(outcomes)
                 if o.prefix == prefix and o.tokens[0] == token and len(o.tokens) > 1), None)


class DraftSide:
    """The draft worker as one generation sees it: `ask` for a tree (returns at once), `collect`
    it (the wait and the worker's drafting go into the trace). Once the worker fails -- dead, or
    no answer within `timeout_s` -- it is stopped (a fresh one starts for the next call), `failed`
    is set and every later ask gets nothing."""

    def __init__(self, run: Run, worker: DraftWorker, max_sequences: int, timeout_s: float):
        self.run, self.worker = run, worker
        self.max_sequences, self.timeout_s = max_sequences, timeout_s
        self.failed = False
        self.drafting_outcomes = False

    # tell the worker when the target's forward is done, so outcome drafting never delays the sync
    # (tests switch it off to have every requested outcome drafted whatever the timing)
    stop_outcomes_at_sync = True

    def ask(self, context: list[int], n: int, outcomes: list[tuple[int, int]] = (), outcome_len: int = 0,
            deadline: float = 0.0, max_sequences: int | None = None) -> int | None:
        """Request n draft tokens after context (and outcome chains until `deadline`, see
        DraftRequest); the request id, or None when nothing was asked."""
        if self.failed or n < 1:
            return None
        request = self.worker.request(context, n, max_sequences or self.max_sequences, outcomes,
                                      outcome_len, deadline)
        if request is None:
            self._fail()
        self.drafting_outcomes = bool(outcomes)
        return request

    def collect(self, request: int | None, kind: str) -> DraftReply | None:
        if request is None:
            return None
        run = self.run
        with run.span("target", "wait"):
            if self.drafting_outcomes and self.stop_outcomes_at_sync:
                self.worker.sync()
            tree = self.worker.wait(request, self.timeout_s)
        if tree is None:
            self._fail()
            return None
        split = tree.outcomes_start or tree.end
        run.events.append(("draft", kind, tree.start - run.t0, split - run.t0, run.rounds))
        if tree.outcomes:
            run.events.append(("draft", "outcomes", split - run.t0, tree.end - run.t0, run.rounds))
        run.draft_tokens += tree.n_tokens
        return tree

    def _fail(self) -> None:
        self.failed = True
        discard_worker(self.run.pair, self.worker)


def _catch_up(draft: DraftSide, context: list[int], n: int) -> Block:
    """Rather than a target forward over an empty block, wait for a chain of n draft tokens and
    verify that (worth it when t_d << T_t; n = 0: the empty block, the paper's schedule)."""
    chain = draft.collect(draft.ask(context, n, max_sequences=1), "catch_up")
    if chain is None:
        return Block()
    return Block(chain.sequences[0], chain.probs[0], chain.alternatives[0], "catch_up")


def _tree_record(run: Run, block: Block, accepted: int, token: int, chosen: int | None,
                 tree: DraftReply, budget: int, outcome_used: int | None) -> dict:
    """A round of run.details["draft_trees"] (drawn by duolab.draft_trees), before its commit."""
    return {"round": run.rounds, "context_len": len(run.sequence) + len(block.tokens),
            "verified": block.tokens, "block_source": block.source, "accepted": accepted, "token": token,
            "chosen": chosen, "budget": budget, "sequences": tree.sequences, "probs": tree.probs,
            "candidates": tree.candidates, "confidence": tree.confidence,
            "outcomes": [(o.prefix - len(run.sequence), o.tokens) for o in tree.outcomes],
            "outcome_used": outcome_used}


def _duo_stats(run: Run, policy: RoundPolicy, trees: list[dict], failed: bool) -> dict:
    wall = time.perf_counter() - run.t0
    busy = {"target": 0.0, "draft": 0.0}
    for side, kind, start, end, _ in run.events:
        if kind != "wait":
            busy[side] += end - start
    k_per_round = [len(tree["sequences"]) for tree in trees]
    budgets = [tree["budget"] for tree in trees[1:]]  # round 0 drafts one token by design
    rejections, hits = run.extra.pop("rejections", 0), run.extra.pop("outcome_hits", 0)
    empty = run.extra.pop("empty_starts", 0)
    return {
        "budget_used": policy.budget if policy.budget is not None else "auto",
        "mean_budget": sum(budgets) / len(budgets) if budgets else 0.0,
        "k_per_round": k_per_round,
        "mean_k": sum(k_per_round) / len(k_per_round) if k_per_round else 0.0,
        # rounds after the first that had nothing drafted to verify (before any catch-up wait)
        "empty_start_fraction": empty / max(1, run.rounds - 1),
        "outcome_hit_rate": hits / rejections if rejections else 0.0,
        "outcomes_drafted": sum(len(tree["outcomes"]) for tree in trees),
        "alpha_estimate": policy.alpha,
        "idle_fraction_target": max(0.0, 1 - busy["target"] / wall),
        "idle_fraction_draft": max(0.0, 1 - busy["draft"] / wall),
        "worker_failed": failed,
    }
