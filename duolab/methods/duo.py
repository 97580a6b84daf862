"""DuoDecoding: the draft (CPU worker process) and the target (here) run at the same time.

Round r: the target verifies the block d the draft sent last round, while the draft -- assuming d
will pass -- already drafts the next block (k sequences) after x + d. At the sync point:
  * d all accepted: the target's next token t is compared with the k first tokens; if one
    matches, its sequence's remaining tokens are the next d;
  * d rejected at i with correction t: in the paper's schedule the new block is thrown away.
    Here the draft also spends the rest of the target's forward on *outcome chains*: for the
    likeliest outcomes "rejected at i, corrected to one of the draft's next-best tokens there" it
    drafts a short continuation (ranked by the draft's own probabilities; drafting stops when the
    target says its forward is done, or at the forward's predicted end, so the sync waits one
    step at most). If x + d[:i] + t is one of them, its chain is the next d.
  * otherwise the next round has nothing to verify. It either verifies the empty block (a target
    forward for one token: the paper's schedule) or first waits for a catch-up chain of c draft
    tokens, whichever the profile and the running alpha say commits more per ms
    (duolab.methods.round_policy). `budget="auto"` likewise chooses each round's draft budget,
    from a latency profile and a prior alpha that the caller passes in (`generate` gets them
    from duolab.measure.profile_store); the decoder itself never measures.
In code: `duo` is the loop and keeps the books (through `Run`'s methods); `duo_round` is one
round and returns a `RoundResult` (the tokens to commit, the next `Block`, a `DraftRound` record);
`WorkerDrafter` is the worker as one generation sees it, behind the drafter contract
(duolab.methods.drafting.Drafter) that sps and pld draft through too.
The first round overlaps the two prefills (the draft drafts a single token), so TTFT stays close
to AR's. Verification is lossless at every temperature: drafts are greedy (point masses), so a
token passes with probability p(token) and the committed token is always distributed as p; which
block is verified next depends only on tokens the target committed.
`duo(budget=8, catch_up=0, outcomes=False)` is the paper's schedule. With `retrieval=N` each
round's forward also verifies prompt lookup's chain (up to N tokens) after the block, or alone
where the round would start empty; the block and the chain are point masses, so verification
stays exact, and the tree carries on where a sequence begins with what was committed.
A worker that dies or hangs mid-generation is dropped; the target finishes alone (AR) and the
stats say `worker_failed`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from duolab.arguments import is_number, is_whole
from duolab.latency_profile import LatencyProfile
from duolab.methods.autoregressive import continue_autoregressively
from duolab.methods.drafting import Chain, Drafter, DraftPlan
from duolab.methods.registry import check_budget, check_retrieval, register_method
from duolab.methods.retrieval import Graft, Retrieval, grafted_tree
from duolab.methods.round_policy import RoundPolicy, rank_outcomes
from duolab.methods.token_tree import TokenTree, forward_tree, keep_path, passed
from duolab.methods.worker import DraftReply, DraftWorker, discard_worker, draft_worker, held_worker
from duolab.models import Pair, warm_up
from duolab.run import Run
from duolab.runtime import target_placement
from duolab.sampling import logits_to_probs


def _check_duo(options: dict) -> None:
    if options.get("budget") != "auto":  # "auto": chosen each round (duolab.methods.round_policy)
        check_budget(options)
    check_retrieval(options)
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
    """budget, catch_up or retrieval "auto": chosen each round from a latency profile and prior
    acceptances, which the caller passes in (duolab.generation.generate finds or measures them)."""
    return "auto" in (options["budget"], options["catch_up"], options["retrieval"])


def _prepare(pair: Pair, options: dict) -> None:
    """Before the clock: the draft worker (started and warmed on first use, like loading a model),
    then the target's runner, warmed again after a start: loading the worker left the target's
    next forward ~1.4x slower (measured on 2 cores)."""
    before = held_worker(pair)
    started = draft_worker(pair) is not before
    target = pair.runner("target")
    if started:
        with target_placement(pair.layout, beside_worker=True):
            warm_up(target, pair.context_length)


@register_method("duo", defaults={"budget": "auto", "max_sequences": 4, "catch_up": "auto", "outcomes": True,
                           "worker_timeout_s": 10.0, "retrieval": 0},
                 check=_check_duo, prepare=_prepare, needs_profile=_needs_profile, drafts_in="worker")
def duo(run: Run, budget: int | str, max_sequences: int, catch_up: int | str, outcomes: bool,
        worker_timeout_s: float, retrieval: int | str, profile: LatencyProfile | None = None,
        alpha_prior: float = 0.5, lookup_prior: float = 0.5) -> None:
    """The rounds of DuoDecoding (module docstring). `profile`, `alpha_prior` and `lookup_prior`
    drive the "auto" choices (duolab.methods.round_policy, duolab.methods.retrieval); this loop
    keeps the books, `duo_round` does a round. `retrieval`: prompt lookup's chains grafted into
    each round's tree, at the root and after prefixes of the block (no outcome chains then)."""
    policy = RoundPolicy.from_options(profile, alpha_prior, budget, catch_up, outcomes and not retrieval)
    worker = draft_worker(run.pair)
    run.drafts_with(worker.runner)
    draft = WorkerDrafter(run, worker, max_sequences, worker_timeout_s)
    source = Retrieval(retrieval, profile, lookup_prior) if retrieval else None
    target = run.pair.runner("target")
    block, rounds = Block(), []
    while not run.done:
        grafts = _grafts(run, source, block, policy)
        if not block.tokens and run.rounds > 0:  # nothing to verify: the policy may wait for a chain
            run.count("empty_starts")
            if not grafts:  # (a retrieved chain needs no wait)
                block = _catch_up(run, draft, min(policy.catch_up_tokens(), run.remaining - 1))
                grafts = _grafts(run, source, block, policy)
        result = duo_round(run, target, draft, policy, block, grafts)
        m, accepted = len(block), result.block_passed
        run.record_verdict(result.verified, result.accepted, first_position=block.first_position)
        draft.accepted(block, accepted)
        if source is not None:
            source.told(grafts, result.block_nodes, result.path)
        policy.observe(min(m, accepted + 1), accepted)
        if result.record is not None:
            rounds.append(result.record)
            run.drafted(result.record.tree.n_tokens)
            if accepted == m:  # the target's token was checked against the firsts
                run.record_verdict(1, int(result.record.chosen is not None), first_position=0)
            else:
                run.count("rejections")
                run.count("outcome_hits", int(result.record.outcome_used is not None))
        run.commit(result.tokens, forwards=1, ends_round=True)
        block = result.next_block
        if draft.failed:  # the worker died or hung: the target finishes alone
            continue_autoregressively(run, target)
    run.add_stats(**_duo_stats(run, policy, rounds, draft.failed))
    if source is not None:
        run.add_stats(**source.stats())
    run.add_details(draft_trees=rounds)


def _grafts(run: Run, source: Retrieval | None, block: Block, policy: RoundPolicy) -> list[Graft]:
    """The retrieved chains this round grafts beside `block` (none without retrieval)."""
    if source is None:
        return []
    with run.span("target", "retrieve"):
        return source.grafts(run.sequence, block.tokens, policy.alpha, run.remaining - 1)


@dataclass
class Block(Chain):
    """The drafted tokens a round verifies (a chain) and how they came: "tree" (the rest of the
    sequence the target's token picked), "outcome" (a pre-drafted outcome chain), "catch_up" or
    "empty"."""

    source: str = "empty"

    @classmethod
    def of(cls, chain: Chain, source: str) -> Block:
        return cls(chain.tokens, chain.probs, chain.alternatives, chain.start, chain.origin, source=source)

    @property
    def first_position(self) -> int:
        """Draft position of tokens[0] in its round: 0 for a catch-up chain, else 1 (after the
        sequence's first token or the outcome's correction)."""
        return 0 if self.source == "catch_up" else 1


@dataclass
class DraftRound:
    """One round of a duo generation, as `Generation.details["draft_trees"]` keeps it (drawn by
    duolab.lab.draft_trees): the block verified and how much of it passed, the target's token, the
    tree the worker sent meanwhile (its sequences and outcome chains, all `Chain`s) and which
    sequence that token picked, or which outcome chain the verdict picked."""

    round: int
    context_len: int  # committed tokens plus the block: where the tree's sequences start
    verified: Block
    accepted: int
    token: int  # the target's token after the accepted part of the block
    chosen: int | None  # the sequence whose first token is `token` (block all accepted)
    budget: int
    tree: DraftReply = field(repr=False)
    outcome_used: int | None
    # prompt lookup's chains verified with the block (retrieval=): each starts at its graft point;
    # and how many tokens of each passed
    retrieved: list[Chain] = field(default_factory=list)
    retrieved_passed: list[int] = field(default_factory=list)

    @property
    def sequences(self) -> list[Chain]:
        return self.tree.sequences

    @property
    def outcomes(self) -> list[Chain]:
        return self.tree.outcomes

    def cut(self, chain: Chain) -> int:
        """Where a chain branches off the block: how many block tokens it comes after (an outcome
        chain keeps that many before its correction; a retrieved chain is grafted there)."""
        return chain.start - (self.context_len - len(self.verified))


@dataclass
class RoundResult:
    """What one round decided: the tokens to commit, the block the next round verifies, the
    round's record (None when nothing was drafted), and the verdict on its tree: the path that
    passed, how much of the block, how many tokens the forward verified."""

    tokens: list[int]
    next_block: Block
    record: DraftRound | None
    tree: TokenTree
    block_nodes: list[int]
    path: list[int]
    block_passed: int

    @property
    def accepted(self) -> int:
        return len(self.path)

    @property
    def verified(self) -> int:
        return len(self.tree)


def duo_round(run: Run, target, draft: WorkerDrafter, policy: RoundPolicy, block: Block,
              grafts: list[Graft] = ()) -> RoundResult:
    """The target verifies `block` (with retrieved chains grafted: one tree) while the draft drafts
    after context + block (k sequences, then outcome chains until the forward's end); at the sync
    the verdict picks the next block."""
    context = run.sequence
    tree, block_nodes = grafted_tree(context, block, list(grafts))
    m, size = len(block), len(tree)
    # in the first round the draft drafts one token only, so its prefill overlaps the target's
    n = 1 if run.rounds == 0 else min(policy.draft_budget(size + 1), run.remaining - m - 1)
    hidden = policy.hidden_draft_tokens(size + 1) if grafts and run.rounds > 0 else None
    n = n if hidden is None else min(n, hidden)  # with retrieval, the worker never holds the sync up
    wanted = rank_outcomes(block.probs, block.alternatives, len(context)) if policy.outcomes else []
    ms = policy.deadline_ms(m + 1)  # outcome chains stop then, or when the forward is done
    draft.ask(context + block.tokens, DraftPlan(n, draft.max_sequences, wanted, policy.outcome_length(),
                                                time.perf_counter() + ms / 1000 if ms else 0.0))
    with run.span("target", "forward"):
        logits = forward_tree(target, context, tree)
    drafted = draft.collect("draft")
    with run.span("target", "sync"):
        verdict = tree.verify(logits_to_probs(logits, run.sampling), run.generator)
        keep_path(target, len(context), verdict.path)
    token, chosen, used, next_block = verdict.next_token, None, None, Block()
    block_passed = passed(block_nodes, verdict.path)
    past = tree.path_tokens(verdict.path[block_passed:])  # retrieved tokens committed after the block's
    if drafted is not None and block_passed == m:
        # the whole block passed: the tree carries on where a sequence begins with what was committed
        # after it (without retrieval: the target's token, already a draw from p, picks the sequence)
        chosen, next_block = _carried_on(drafted, past + [token])
    elif drafted is not None and not past:  # rejected inside the block: was this outcome pre-drafted?
        used = _find_outcome(drafted.outcomes, len(context) + block_passed, token)
        if used is not None:
            next_block = Block.of(drafted.outcomes[used].tail(), "outcome")
    record = None if drafted is None else DraftRound(
        run.rounds, len(context) + m, block, block_passed, token, chosen, n, drafted, used, [g.chain for g in grafts],
        [passed(g.nodes, verdict.path) for g in grafts])
    return RoundResult(tree.path_tokens(verdict.path) + [token], next_block, record, tree, block_nodes,
                       verdict.path, block_passed)


def _carried_on(tree: DraftReply, committed: list[int]) -> tuple[int | None, Block]:
    """The first sequence of the tree that begins with `committed` (the tokens committed past the
    block), and what is left of it to verify next."""
    for j, seq in enumerate(tree.sequences):
        if seq.tokens[: len(committed)] == committed:
            return j, Block.of(seq.tail(len(committed)), "tree") if len(seq) > len(committed) else Block()
    return None, Block()


def _find_outcome(outcomes: list[Chain], start: int, token: int) -> int | None:
    """Index of the outcome chain whose cut and correction are what the target committed."""
    return next((i for i, o in enumerate(outcomes) if o.start == start and o.tokens[0] == token and len(o) > 1),
                None)


class WorkerDrafter(Drafter):
    """duo's drafter: the draft worker (another process) as one generation sees it, behind the
    drafter contract. `ask` sends the request and returns at once; `collect` waits for the tree
    (the wait and the worker's drafting go into the trace). Once the worker fails -- dead, or no
    answer within `timeout_s` -- it is stopped (a fresh one starts for the next call), `failed` is
    set and every later round gets nothing (`collect` returns None, as when nothing was asked)."""

    def __init__(self, run: Run, worker: DraftWorker, max_sequences: int, timeout_s: float):
        super().__init__()
        self.run, self.worker = run, worker
        self.max_sequences, self.timeout_s = max_sequences, timeout_s
        self.failed = False
        self._request: int | None = None
        self._drafting_outcomes = False

    # tell the worker when the target's forward is done, so outcome drafting never delays the sync
    # (tests switch it off to have every requested outcome drafted whatever the timing)
    stop_outcomes_at_sync = True

    def ask(self, context: list[int], plan: DraftPlan) -> None:
        self._request = None
        if self.failed or plan.budget < 1:
            return
        self._request = self.worker.request(context, plan)
        if self._request is None:
            self._fail()
        self._drafting_outcomes = bool(plan.outcomes)

    def collect(self, kind: str = "draft") -> DraftReply | None:
        """The tree asked for (None when nothing was asked or the worker failed); `kind` names the
        worker's drafting in the trace ("draft" or "catch_up")."""
        request, self._request = self._request, None
        if request is None:
            return None
        run = self.run
        with run.span("target", "wait"):
            if self._drafting_outcomes and self.stop_outcomes_at_sync:
                self.worker.sync()
            tree = self.worker.wait(request, self.timeout_s)
        if tree is None:
            self._fail()
            return None
        split = tree.outcomes_start or tree.end
        run.add_span("draft", kind, tree.start, split)
        if tree.outcomes:
            run.add_span("draft", "outcomes", split, tree.end)
        return tree

    def _fail(self) -> None:
        self.failed = True
        discard_worker(self.run.pair, self.worker)


def _catch_up(run: Run, draft: WorkerDrafter, n: int) -> Block:
    """Rather than a target forward over an empty block, wait for a chain of n draft tokens and
    verify that (worth it when t_d << T_t; n = 0: the empty block, the paper's schedule)."""
    draft.ask(run.sequence, DraftPlan(n, 1))
    tree = draft.collect("catch_up")
    if tree is None:
        return Block()
    run.drafted(tree.n_tokens)
    return Block.of(tree.sequences[0], "catch_up")


def _duo_stats(run: Run, policy: RoundPolicy, rounds: list[DraftRound], failed: bool) -> dict:
    wall = time.perf_counter() - run.t0
    k_per_round = [len(r.tree.sequences) for r in rounds]
    budgets = [r.budget for r in rounds[1:]]  # round 0 drafts one token by design
    rejections = run.counts["rejections"]
    return {
        "budget_used": policy.budget if policy.budget is not None else "auto",
        "mean_budget": sum(budgets) / len(budgets) if budgets else 0.0,
        "k_per_round": k_per_round,
        "mean_k": sum(k_per_round) / len(k_per_round) if k_per_round else 0.0,
        # rounds after the first that had nothing drafted to verify (before any catch-up wait)
        "empty_start_fraction": run.counts["empty_starts"] / max(1, run.rounds - 1),
        "outcome_hit_rate": run.counts["outcome_hits"] / rejections if rejections else 0.0,
        "outcomes_drafted": sum(len(r.outcomes) for r in rounds),
        "alpha_estimate": policy.alpha,
        "idle_fraction_target": max(0.0, 1 - run.busy_s("target") / wall),
        "idle_fraction_draft": max(0.0, 1 - run.busy_s("draft") / wall),
        "worker_failed": failed,
    }
