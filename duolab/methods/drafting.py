"""Drafters propose tokens; the verifier decides. A drafter never sees the target.

Every sequential drafter is a `Drafter`: `propose(context, n) -> Proposal`, given the committed
sequence so far and how many tokens to propose. What was accepted is told implicitly by the next
call's context, from which a drafter with a KV cache rolls back to the longest common prefix
(nothing is recomputed). duo's worker drafts trees instead: `MultiSequenceDrafter.propose`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from duolab.sampling import SamplingConfig, logits_to_probs, sample


@dataclass
class Proposal:
    tokens: list[int]
    # q_i each token was sampled from (len(tokens) rows); None = chosen deterministically
    probs: torch.Tensor | None = None


class Drafter(Protocol):
    """What SpS and PLD draft with (duolab.methods.speculative.speculative_loop)."""

    def propose(self, context: list[int], n: int) -> Proposal: ...


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ChainDrafter:
    """Classic draft model: one chain of n tokens, sampled from q at temperature > 0, argmax under
    greedy. Its distributions go through the same sampling config as the target's. `runner` is
    the pair's draft runner (`Pair.runner("draft")`: FastLlama or CachedModel)."""

    def __init__(self, runner, sampling: SamplingConfig, generator: torch.Generator | None):
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

    def propose(self, context: list[int], n: int) -> Proposal:
        logits = self._logits_after(context)
        tokens, rows = [], []
        for i in range(n):
            q = logits_to_probs(logits, self.sampling)
            tok = sample(q, self.generator)
            tokens.append(tok)
            rows.append(q)
            if i < n - 1:
                logits = self.cm.forward([tok])[0]
                self.seq.append(tok)
        probs = None if self.sampling.greedy else torch.stack(rows) if rows else None
        return Proposal(tokens, probs)


class PromptLookupDrafter:
    """Prompt lookup decoding: no draft model. Find the latest earlier occurrence of the context's
    last n-gram (longest first, down to one token) and propose the tokens that followed it."""

    def __init__(self, max_ngram: int = 3):
        self.max_ngram = max_ngram

    def propose(self, context: list[int], n: int) -> Proposal:
        L = len(context)
        for size in range(min(self.max_ngram, L - 1), 0, -1):
            tail = context[L - size:]
            # scan right to left, skipping the tail itself
            for start in range(L - size - 1, -1, -1):
                if context[start:start + size] == tail:
                    follow = context[start + size:start + size + n]
                    if follow:
                        return Proposal(follow, None)
        return Proposal([], None)


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


class Compact:
    """Pickled as its class and field values, without the field names: as fast as a plain tuple
    (the default pickling of a dataclass costs ~7 us more per message, each way, on the worker's
    pipe)."""

    def __reduce__(self):
        return type(self), tuple(self.__dict__.values())


@dataclass
class Chain(Compact):
    """Drafted tokens with, at each, the draft's probability of it (temperature 1) and its
    next-best tokens there, [(token, probability), ...]: the likeliest corrections if the target
    rejects it. A draft tree's sequences, an outcome chain and the block duo verifies are chains."""

    tokens: list[int] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    alternatives: list[list[tuple[int, float]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    def append(self, token: int, prob: float, alternatives: list[tuple[int, float]]) -> None:
        self.tokens.append(token)
        self.probs.append(prob)
        self.alternatives.append(alternatives)

    def tail(self) -> Chain:
        """All but the first token (what is left to verify once the first is committed)."""
        return Chain(self.tokens[1:], self.probs[1:], self.alternatives[1:])


@dataclass
class Outcome(Compact):
    """A chain drafted for one possible verification outcome: the block is cut after `prefix`
    context tokens and the target's correction is `chain.tokens[0]` (a guess: one of the draft's
    next-best tokens there); the rest is the draft's greedy continuation. Picked only when the
    committed tokens equal context[:prefix] + chain.tokens[0], which the target alone decides."""

    prefix: int
    chain: Chain


@dataclass
class DraftTree(Compact):
    """One round of multi-sequence drafting: k sequences that share the committed prefix, and
    the outcome chains drafted in the time left (see `MultiSequenceDrafter.draft_outcomes`)."""

    sequences: list[Chain]
    candidates: list[tuple[int, float]]  # top-K first tokens and q1 probabilities (for drawing)
    confidence: float  # s = q1(c1) * max q2, the threshold an alternative had to beat
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def firsts(self) -> list[int]:
        return [s.tokens[0] for s in self.sequences]


ALTERNATIVES = 2  # next-best tokens kept per drafted position (candidate corrections)


def _top(q: torch.Tensor) -> tuple[int, float, list[tuple[int, float]]]:
    """The argmax of q, its probability, and the ALTERNATIVES next-best (token, probability)."""
    top = torch.topk(q, 1 + ALTERNATIVES)
    toks, ps = top.indices.tolist(), top.values.tolist()
    return toks[0], ps[0], list(zip(toks[1:], ps[1:], strict=True))


class MultiSequenceDrafter:
    """Greedy multi-sequence drafter over a runner with forward/rollback/snapshot/restore
    (FastLlama or CachedModel). Each sequence's KV is snapshotted, so when the target picks one,
    the next round continues from it without recomputation. A sequence stops after `eos_id`:
    nothing after the end of the text can be committed."""

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

    def propose(self, context: list[int], budget: int, max_sequences: int) -> DraftTree:
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
            sequences.append(self._chain(first, float(q1[first]), unopened, after_c1 if j == 0 else None, length))
            fed = self.seq[base:]
            # the last branch stays loaded; earlier ones are kept as snapshots
            branches.append((fed, self.runner.snapshot(base) if j < len(firsts) - 1 else None))
        self.base_len = base
        self.saved = [b for b in branches if b[1] is not None]
        return DraftTree(sequences, candidates, float(q1[c1]) * q2_max)

    def draft_outcomes(self, outcomes: list[tuple[int, int]], length: int, deadline: float = 0.0,
                       stop: Callable[[], bool] | None = None) -> list[Outcome]:
        """After `propose`: chains of up to `length` tokens for the given outcomes (prefix, correction),
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
            done.append(Outcome(prefix, self._chain(correction, 0.0, [], None, length, deadline, stop)))
        self.runner.restore(low, snap)
        self.seq = seq
        return done
