"""Logits -> probabilities, and the lossless verification rules every speculative method uses.

One module on purpose: the target and the draft distributions both go through
`logits_to_probs`, so "the draft's q" and "the target's p" are always processed the same way,
which is what makes the acceptance rule below exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from duolab.arguments import is_number, is_whole


@dataclass(frozen=True)
class SamplingConfig:
    """How a token is chosen from a distribution. temperature 0 means greedy (argmax)."""

    temperature: float = 0.0
    top_k: int = 0  # 0 = no top-k filter
    top_p: float = 1.0  # 1.0 = no nucleus filter

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def check(self) -> None:
        if not is_number(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature must be a number >= 0, got {self.temperature!r}")
        if not is_whole(self.top_k, 0):
            raise ValueError(f"top_k must be an integer >= 0 (0 disables it), got {self.top_k!r}")
        if not is_number(self.top_p) or not (0.0 < self.top_p <= 1.0):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")


def logits_to_probs(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """Turn logits (..., V) into the exact distribution a token is drawn from.

    Greedy returns a one-hot at the argmax, so greedy is just sampling from a point mass and
    every verification rule below covers it without a special case.
    """
    logits = logits.float()
    if cfg.greedy:
        return torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    logits = logits / cfg.temperature
    if cfg.top_k and cfg.top_k < logits.shape[-1]:
        kth = torch.topk(logits, cfg.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        sorted_probs = sorted_logits.softmax(-1)
        # drop a token when the mass strictly before it already reaches top_p (keeps >= 1 token)
        mass_before = sorted_probs.cumsum(-1) - sorted_probs
        drop_sorted = mass_before >= cfg.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits.softmax(-1)


def sample(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    """Draw one token id from a 1-D distribution (argmax shortcut for point masses)."""
    if probs.max() >= 1.0:
        return int(probs.argmax())
    return int(torch.multinomial(probs, 1, generator=generator))


def _uniform(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


@dataclass
class BlockVerdict:
    """Outcome of verifying a drafted chain: how many draft tokens passed and the token the
    target adds after them (the correction on a rejection, the bonus when all passed)."""

    accepted: int
    next_token: int

    @property
    def tokens(self) -> int:
        return self.accepted + 1


def verify_block(
    target_probs: torch.Tensor,
    draft_tokens: list[int],
    draft_probs: torch.Tensor | None,
    generator: torch.Generator | None,
) -> BlockVerdict:
    """Verify a chain of n draft tokens against n+1 target distributions (rows of target_probs).

    draft_probs holds the draft's distribution q_i that draft token i was *sampled* from (n rows).
    None means the drafts were chosen deterministically (argmax or top-k candidates), i.e. q_i is a
    point mass. Both cases use the same rule:
      accept d_i with probability min(1, p_i(d_i) / q_i(d_i));
      on rejection sample the correction from norm(max(0, p_i - q_i)).
    For a point mass this is "accept with prob p_i(d_i), else sample p_i without d_i", which is
    exactly "sample t ~ p_i, accept iff t == d_i". Under greedy p_i is a point mass too, so a draft
    token passes iff it equals the target's argmax: output identical to autoregressive greedy.
    """
    n = len(draft_tokens)
    if target_probs.shape[0] != n + 1:
        raise ValueError(f"need {n + 1} target distributions for {n} draft tokens, got {target_probs.shape[0]}")
    rows = None if draft_probs is None else list(draft_probs)
    verdict = verify_tree(target_probs, draft_tokens, list(range(-1, n - 1)), rows, generator)
    return BlockVerdict(verdict.accepted, verdict.next_token)


@dataclass
class TreeVerdict:
    """Outcome of verifying a draft tree: the nodes that passed, root to leaf (`path`), and the
    token the target adds after the last of them."""

    path: list[int]
    next_token: int

    @property
    def accepted(self) -> int:
        return len(self.path)


def verify_tree(
    target_probs: torch.Tensor,
    tokens: list[int],
    parents: list[int],
    draft_probs: list[torch.Tensor | None] | None,
    generator: torch.Generator | None,
) -> TreeVerdict:
    """Verify a draft tree (node i: `tokens[i]` after node `parents[i]`, -1 the root) against the
    target's distributions: row 0 after the root, row i + 1 after node i.

    From the root down, each node's children are tried in order, each with the chain rule of
    `verify_block` against what is left of p: child c (drawn from q, or a point mass when its
    `draft_probs` entry is None) passes with probability min(1, r(c) / q(c)); on a rejection r
    becomes norm(max(0, r - q)) (for a point mass: r without c) and the next child is tried. When
    no child passes, the target's token is drawn from the final r. This is multi-draft
    speculative sampling (each committed token is distributed exactly as p), so model chains and
    retrieved point masses may share a tree. A chain (every parent the previous node) gives
    exactly `verify_block`'s verdict, random draws included."""
    n = len(tokens)
    if target_probs.shape[0] != n + 1 or len(parents) != n:
        raise ValueError(f"need {n + 1} target distributions and {n} parents for {n} nodes, "
                         f"got {target_probs.shape[0]} and {len(parents)}")
    children: list[list[int]] = [[] for _ in range(n + 1)]  # [0]: the root's, [i + 1]: node i's
    for i, parent in enumerate(parents):
        if not -1 <= parent < i:
            raise ValueError(f"node {i}'s parent {parent} must come before it (or be -1, the root)")
        children[parent + 1].append(i)
    node, path = -1, []
    while True:
        r = target_probs[node + 1]
        for child in children[node + 1]:
            tok = tokens[child]
            q = None if draft_probs is None else draft_probs[child]
            r_tok, q_tok = float(r[tok]), 1.0 if q is None else float(q[tok])
            if r_tok >= q_tok or (r_tok > 0.0 and _uniform(generator) * q_tok < r_tok):
                path.append(child)
                node = child
                break
            if q is None:
                residual = r.clone()
                residual[tok] = 0.0
            else:
                residual = (r - q).clamp_min(0.0)
            r = _normalized_residual(residual, r)
        else:
            return TreeVerdict(path, sample(r, generator))


def _normalized_residual(residual: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """norm(residual), or p itself when the residual is all zeros (0/0).

    Exactly, a rejection implies p(d) < q(d), so some other token has p > q and the residual is
    not empty. In floating point p and q can agree to the last bit everywhere except on d (or p can
    put all its mass on d and still read 0.99999994), leaving only zeros. p and q are then equal up
    to rounding, so the correction is drawn from p: the committed token stays distributed as p."""
    total = residual.sum()
    return residual / total if total > 0 else p
