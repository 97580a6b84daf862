"""Drafters propose tokens; the verifier decides. A drafter never sees the target.

Every drafter has `propose(context, n) -> Proposal`: the committed sequence so far and how many
tokens to propose. What was accepted is told implicitly by the next call's context, from which a
drafter with a KV cache rolls back to the longest common prefix (nothing is recomputed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from duolab.kvcache import CachedModel
from duolab.sampling import SamplingConfig, logits_to_probs, sample


@dataclass
class Proposal:
    tokens: list[int]
    # q_i each token was sampled from (len(tokens) rows); None = chosen deterministically
    probs: torch.Tensor | None = None


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ChainDrafter:
    """Classic draft model: one chain of n tokens, sampled from q at temperature > 0, argmax under
    greedy. Its distributions go through the same sampling config as the target's."""

    def __init__(self, model: torch.nn.Module, device, sampling: SamplingConfig,
                 generator: torch.Generator | None):
        self.cm = CachedModel(model, device)
        self.sampling = sampling
        self.generator = generator
        self.seq: list[int] = []  # tokens whose KV the cache holds

    def next_logits(self, context: list[int]) -> torch.Tensor:
        """Logits after `context`, reusing the cached common prefix."""
        keep = min(common_prefix(self.seq, context), len(context) - 1)
        self.cm.rollback(keep)
        logits = self.cm.forward(context[keep:])[-1]
        self.seq = list(context)
        return logits

    def propose(self, context: list[int], n: int) -> Proposal:
        logits = self.next_logits(context)
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
    last n-gram (longest first) and propose the tokens that followed it."""

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1):
        self.max_ngram, self.min_ngram = max_ngram, min_ngram

    def propose(self, context: list[int], n: int) -> Proposal:
        L = len(context)
        for size in range(min(self.max_ngram, L - 1), self.min_ngram - 1, -1):
            tail = context[L - size:]
            # scan right to left, skipping the tail itself
            for start in range(L - size - 1, -1, -1):
                if context[start:start + size] == tail:
                    follow = context[start + size:start + size + n]
                    if follow:
                        return Proposal(follow, None)
        return Proposal([], None)
