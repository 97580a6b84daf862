"""Drafters propose tokens; the verifier decides. A drafter never sees the target.

One contract for every draft source (`Drafter`): a round `ask`s it for a draft after the committed
context, within a `DraftPlan` (the budget, and for duo's worker how many sequences and which
outcome chains), `collect`s the `DraftTree` it drafted (None: nothing) -- a list of `Chain`s: one chain for a
sequential draft, k sequences for a tree, plus outcome chains -- and tells it what the verifier
`accepted`. The verifier does not care who drafted. Implementers:
  * `ChainDrafter`: the draft model, one chain (sps), sampled from q at temperature > 0;
  * `duolab.methods.retrieval.PromptLookupDrafter`: prompt lookup (pld), chains copied from
    earlier n-grams, no model (also the retrieval source of sps and duo with `retrieval=`);
  * `duolab.methods.duo.WorkerDrafter`: duo's draft worker, a tree drafted in another process
    (by `MultiSequenceDrafter`, below) while the target verifies.
The in-process drafters draft when asked (`ask` runs `draft`); the worker returns at once and
drafts in parallel. A drafter with a KV cache rolls back to the longest common prefix of what it
holds and the next context, so nothing is recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from duolab.sampling import SamplingConfig, logits_to_probs, sample


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Compact:
    """Pickled as its class and field values, without the field names: as fast as a plain tuple
    (the default pickling of a dataclass costs ~7 us more per message, each way, on the worker's
    pipe)."""

    def __reduce__(self):
        return type(self), tuple(self.__dict__.values())


@dataclass
class Chain(Compact):
    """Drafted tokens, read as a sequence of token ids (len, iteration, indexing), with at each the
    draft's probability of it (temperature 1; 1.0 for a copied token) and its next-best tokens
    there, [(token, probability), ...]: the likeliest corrections if the target rejects it.
    `start`: the length of the sequence it continues (its first token's position); `origin`: who
    drafted it ("model" or "lookup"); `q`: the rows its tokens were sampled from (None: point
    masses, as greedy drafts and copies are); `match`: for a copied chain, how many tokens of the
    context's tail the occurrence it was copied from shares. A draft tree is a list of chains."""

    tokens: list[int] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    alternatives: list[list[tuple[int, float]]] = field(default_factory=list)
    start: int = 0
    origin: str = "model"
    q: torch.Tensor | None = field(default=None, repr=False, compare=False)
    match: int = 0

    def __len__(self) -> int:
        return len(self.tokens)

    def __iter__(self):
        return iter(self.tokens)

    def __getitem__(self, i):
        return self.tokens[i]

    def append(self, token: int, prob: float, alternatives: list[tuple[int, float]]) -> None:
        self.tokens.append(token)
        self.probs.append(prob)
        self.alternatives.append(alternatives)

    def tail(self, n: int = 1) -> Chain:
        """All but the first n tokens (what is left to verify once they are committed)."""
        return Chain(self.tokens[n:], self.probs[n:], self.alternatives[n:], self.start + n, self.origin,
                     None if self.q is None else self.q[n:], self.match)


@dataclass
class DraftTree(Compact):
    """What a drafter drafted in one round, as chains: `sequences`, k chains after the context,
    main first (one for a sequential drafter); and for duo's worker, `outcomes`, chains drafted
    for rejection outcomes of the block being verified (see `MultiSequenceDrafter.draft_outcomes`:
    each starts at its cut, its first token the guessed correction)."""

    sequences: list[Chain]
    candidates: list[tuple[int, float]] = field(default_factory=list)  # top-K first tokens, q1 (drawing)
    confidence: float = 0.0  # s = q1(c1) * max q2, the threshold an alternative had to beat
    outcomes: list[Chain] = field(default_factory=list)

    @property
    def firsts(self) -> list[int]:
        return [s.tokens[0] for s in self.sequences]

    @property
    def chains(self) -> list[Chain]:
        """The whole tree as a list of chains."""
        return self.sequences + self.outcomes


@dataclass
class DraftPlan(Compact):
    """What one round asks of a drafter: at most `budget` tokens, in at most `max_sequences`
    chains; then, until `deadline` (perf_counter seconds; 0: none), chains of `outcome_len` tokens
    for the `outcomes` (cut, correction) in order. Sequential drafters read the budget only."""

    budget: int
    max_sequences: int = 1
    outcomes: list[tuple[int, int]] = field(default_factory=list)
    outcome_len: int = 0
    deadline: float = 0.0


class Drafter:
    """The contract every draft source implements (module docstring): `ask`, `collect`, `accepted`.
    An in-process drafter implements `draft`; this base drafts when asked and tallies acceptance."""

    def __init__(self):
        self.proposed = 0  # draft tokens the verifier checked a verdict on, and how many passed
        self.passed = 0
        self._tree: DraftTree | None = None

    def ask(self, context: list[int], plan: DraftPlan) -> None:
        """Start drafting after `context` within `plan`."""
        self._tree = self.draft(context, plan) if plan.budget > 0 else None

    def collect(self) -> DraftTree | None:
        """The tree drafted since `ask` (waiting for it where it is drafted elsewhere); None when
        nothing was drafted (nothing asked, or the source failed)."""
        tree, self._tree = self._tree, None
        return tree

    def accepted(self, chain: Chain, n: int) -> None:
        """The verifier took the first n tokens of `chain`, one this drafter proposed."""
        self.proposed += len(chain)
        self.passed += n

    def draft(self, context: list[int], plan: DraftPlan) -> DraftTree:
        raise NotImplementedError


class ChainDrafter(Drafter):
    """Classic draft model: one chain of n tokens, sampled from q at temperature > 0, argmax under
    greedy. Its distributions go through the same sampling config as the target's. `runner` is
    the pair's draft runner (`Pair.runner("draft")`: FastLlama or CachedModel)."""

    def __init__(self, runner, sampling: SamplingConfig, generator: torch.Generator | None):
        super().__init__()
        self.cm = runner
        self.sampling = sampling
        self.generator = generator
        self.seq: list[int] = []  # tokens whose KV the cache holds

    def _logits_after(self, context: list[int]) -> torch.Tensor:
        """Logits after `context`, reusing the cached common prefix."""
        keep = min(common_prefix(self.seq, context), len(context) - 1)
        self.cm.rollback(keep)
        logits = self.cm.forward(context[keep:])[-1]
        self.seq = list(context)
        return logits

    def draft(self, context: list[int], plan: DraftPlan) -> DraftTree:
        n = plan.budget
        logits = self._logits_after(context)
        chain, rows = Chain(start=len(context)), []
        for i in range(n):
            q = logits_to_probs(logits, self.sampling)
            tok = sample(q, self.generator)
            chain.append(tok, float(q[tok]), [])
            rows.append(q)
            if i < n - 1:
                logits = self.cm.forward([tok])[0]
                self.seq.append(tok)
        if not self.sampling.greedy and rows:
            chain.q = torch.stack(rows)
        return DraftTree([chain])


TOP_CANDIDATES = 8  # K: alternative first tokens considered by the multi-sequence rule


def plan_sequences(q1: torch.Tensor, q2_max: float, budget: int, max_sequences: int) -> tuple[list[int], list[int]]:
    """Dynamic multi-sequence drafting: which first tokens to open sequences with, and how long each is.

    Main chain c1 = argmax q1 with confidence s = q1(c1) * max q2 (its first two tokens together).
    Every other top-K candidate c with q1(c) > s -- more likely than the main chain's first two
    tokens -- opens an extra sequence. k = 1 + extras (capped by max_sequences and by the budget,
    since every sequence needs a token); the budget is split into k near-equal lengths, main first.
    """
    top = torch.topk(q1, min(TOP_CANDIDATES, q1.shape[-1])).indices.tolist()
    c1 = top[0]
    s = float(q1[c1]) * q2_max
    extras = [c for c in top[1:] if float(q1[c]) > s]
    k = max(1, min(1 + len(extras), max_sequences, budget))
    firsts = [c1] + extras[: k - 1]
    base, extra = divmod(budget, k)
    lengths = [base + (1 if i < extra else 0) for i in range(k)]
    return firsts, lengths


ALTERNATIVES = 2  # next-best tokens kept per drafted position (candidate corrections)


def _top(q: torch.Tensor) -> tuple[int, float, list[tuple[int, float]]]:
    """The argmax of q, its probability, and the ALTERNATIVES next-best (token, probability)."""
    top = torch.topk(q, 1 + ALTERNATIVES)
    toks, ps = top.indices.tolist(), top.values.tolist()
    return toks[0], ps[0], list(zip(toks[1:], ps[1:], strict=True))


class MultiSequenceDrafter:
    """duo's worker's engine (it runs in the worker process, duolab.methods.worker_process; the
    main process sees it through `WorkerDrafter`): a greedy multi-sequence drafter over a runner
    with forward/rollback/snapshot/restore (FastLlama or CachedModel). A request's `DraftPlan` is
    drafted in two phases, `draft_tree` then `draft_outcomes`. Each sequence's KV is snapshotted,
    so when the target picks one, the next round continues from it without recomputation. A
    sequence stops after `eos_id`: nothing after the end of the text can be committed."""

    def __init__(self, runner, eos_id: int | None = None):
        self.runner = runner
        self.runner.rollback(0)
        self.eos_id = eos_id
        self.seq: list[int] = []  # tokens the runner's cache holds right now
        self.base_len = 0
        self.saved: list[tuple[list[int], object]] = []  # (tokens after base, snapshot) of other branches
        self.step_s = 0.0  # running mean of one drafting forward (for deadlines)

    def _load_best_state(self, context: list[int]) -> int:
        """Restore the saved branch sharing the longest prefix with context; return that length."""
        best, best_i = common_prefix(self.seq, context), None
        if self.saved and context[: self.base_len] == self.seq[: self.base_len]:
            for i, (toks, _) in enumerate(self.saved):
                n = self.base_len + common_prefix(toks, context[self.base_len:])
                if n > best:
                    best, best_i = n, i
        if best_i is not None:
            toks, snap = self.saved[best_i]
            self.runner.restore(self.base_len, snap)
            self.seq = self.seq[: self.base_len] + toks
        return best

    def _feed(self, tokens: list[int]) -> torch.Tensor:
        t = time.perf_counter()
        logits = self.runner.forward(tokens)[-1]
        self.seq.extend(tokens)
        if len(tokens) == 1:
            dt = time.perf_counter() - t
            self.step_s = dt if self.step_s == 0 else 0.8 * self.step_s + 0.2 * dt
        return logits

    def _must_stop(self, deadline: float, stop: Callable[[], bool] | None) -> bool:
        """The next draft step would end past `deadline`, or `stop()` says time is up."""
        return bool(deadline and time.perf_counter() + self.step_s > deadline) or bool(stop and stop())

    def _chain(self, first: int, first_prob: float, first_alternatives: list[tuple[int, float]],
               logits: torch.Tensor | None, length: int, deadline: float = 0.0,
               stop: Callable[[], bool] | None = None) -> Chain:
        """Greedy continuation of `first` up to `length` tokens (logits: the draft's after first),
        stopping after EOS or when time is up (see `_must_stop`)."""
        chain = Chain([first], [first_prob], [first_alternatives])
        while len(chain) < length and chain.tokens[-1] != self.eos_id:
            if self._must_stop(deadline, stop):
                break
            if logits is None:
                logits = self._feed([chain.tokens[-1]])
            chain.append(*_top(logits.softmax(-1)))
            logits = None
        return chain

    def draft_tree(self, context: list[int], budget: int, max_sequences: int) -> DraftTree:
        """Draft up to `budget` tokens in k sequences after `context`."""
        keep = min(self._load_best_state(context), len(context) - 1)
        self.runner.rollback(keep)
        del self.seq[keep:]
        q1 = self._feed(context[keep:]).softmax(-1)
        base = len(context)
        c1 = int(q1.argmax())
        after_c1 = self._feed([c1]) if budget >= 2 and c1 != self.eos_id else None  # q2: the main chain's next step
        q2_max = float(after_c1.softmax(-1).max()) if after_c1 is not None else 0.0
        firsts, lengths = plan_sequences(q1, q2_max, budget, max_sequences)
        top = torch.topk(q1, min(TOP_CANDIDATES, q1.shape[-1]))
        candidates = [(int(t), float(p)) for t, p in zip(top.indices, top.values, strict=False)]
        # a first token's alternatives: the best candidates that opened no sequence
        unopened = [(t, p) for t, p in candidates if t not in firsts][:ALTERNATIVES]
        sequences, branches = [], []
        for j, (first, length) in enumerate(zip(firsts, lengths, strict=False)):
            if j > 0:  # back to the shared prefix (the previous branch was snapshotted)
                self.runner.rollback(base)
                del self.seq[base:]
            chain = self._chain(first, float(q1[first]), unopened, after_c1 if j == 0 else None, length)
            chain.start = base
            sequences.append(chain)
            fed = self.seq[base:]
            # the last branch stays loaded; earlier ones are kept as snapshots
            branches.append((fed, self.runner.snapshot(base) if j < len(firsts) - 1 else None))
        self.base_len = base
        self.saved = [b for b in branches if b[1] is not None]
        return DraftTree(sequences, candidates, float(q1[c1]) * q2_max)

    def draft_outcomes(self, outcomes: list[tuple[int, int]], length: int, deadline: float = 0.0,
                       stop: Callable[[], bool] | None = None) -> list[Chain]:
        """After `draft_tree`: chains of up to `length` tokens for the given outcomes (cut, correction),
        in the order given, until `deadline` (perf_counter seconds; 0: none) or until `stop()` says
        the target has finished its forward, checked before every draft step, so the target waits
        at most one step. The proposed tree's state is put back afterwards."""
        if not outcomes:
            return []
        low = min(p for p, _ in outcomes)
        seq, snap = list(self.seq), self.runner.snapshot(low)
        done = []
        for prefix, correction in outcomes:
            if self._must_stop(deadline, stop):
                break
            if len(self.seq) < prefix:  # an earlier chain cut the block shorter: put it back
                self.runner.restore(low, snap)
                self.seq = list(seq)
            self.runner.rollback(prefix)
            del self.seq[prefix:]
            chain = self._chain(correction, 0.0, [], None, length, deadline, stop)
            chain.start = prefix
            done.append(chain)
        self.runner.restore(low, snap)
        self.seq = seq
        return done
