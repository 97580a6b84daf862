"""Where two greedy outputs part, and whether a half-precision rounding tie explains it.

Greedy speculative output equals AR token for token in fp32. In fp16/bf16 a block forward (the
verifier's) rounds differently from AR's one-token forwards, so when AR's best two logits are equal
at the dtype's resolution the two argmaxes may pick different tokens. `first_divergence` replays
AR's own forwards up to the first differing token and reports the gap there:

    d = first_divergence(pair, prompt, ar_generation, sps_generation)
    d is None or d.within_rounding   # True: identical, or parted only at a rounding tie
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from duolab.arguments import is_number, is_whole
from duolab.models import Pair


def resolution(dtype: torch.dtype, magnitude: float) -> float:
    """Spacing of representable numbers of `dtype` at |magnitude| (one unit in the last place)."""
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating point type, got {dtype}")
    info = torch.finfo(dtype)
    m = max(abs(magnitude), info.tiny)  # subnormals: the spacing never falls below the smallest normal's
    return info.eps * 2.0 ** math.floor(math.log2(m))


@dataclass(frozen=True)
class Divergence:
    """The first position where `other` left the reference (AR), seen through AR's own logits."""

    position: int  # index among the new tokens
    reference_token: int
    other_token: int
    top_two: tuple[int, int]  # AR's two best tokens there
    top_two_logits: tuple[float, float]
    gap: float  # AR's logit of reference_token minus its logit of other_token
    resolution: float  # the dtype's spacing at that magnitude
    dtype: torch.dtype
    ulps: float = 1.0  # how many spacings still count as a tie

    @property
    def top_two_gap(self) -> float:
        return self.top_two_logits[0] - self.top_two_logits[1]

    @property
    def within_rounding(self) -> bool:
        """A tie at the dtype's resolution: rounding alone can flip which token wins."""
        return abs(self.gap) <= self.ulps * self.resolution


def _token_ids(output, name: str) -> list[int]:
    ids = getattr(output, "token_ids", output)  # a Generation or a list of token ids
    if not isinstance(ids, (list, tuple)) or not all(is_whole(t) for t in ids):
        raise ValueError(f"{name} must be a Generation or a list of token ids, got {type(output).__name__}")
    return list(ids)


def first_divergence(pair: Pair, prompt: str, reference, other, *, ulps: float = 1.0) -> Divergence | None:
    """None when `other` equals the AR `reference` token for token; else the first divergence,
    with AR's logits there. Both outputs must come from the same prompt and max_new_tokens."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string (the one both outputs were generated from)")
    if not is_number(ulps) or ulps < 0:
        raise ValueError(f"ulps must be a number >= 0, got {ulps!r}")
    ref, oth = _token_ids(reference, "reference"), _token_ids(other, "other")
    pos = next((i for i, (a, b) in enumerate(zip(ref, oth, strict=False)) if a != b), None)
    if pos is None:
        if len(ref) != len(oth):
            raise ValueError(f"outputs agree but have different lengths ({len(ref)} and {len(oth)} tokens): "
                             "generate both with the same max_new_tokens")
        return None
    # replay AR exactly: prefill the prompt, then one token per forward, as method="ar" does, so
    # the logits are the ones AR chose from (a block forward would round differently)
    model = pair.runner("target")  # the forward method="ar" runs: logits match AR's bit for bit
    logits = model.forward(pair.tokenizer.encode(prompt))[-1]
    for tok in ref[:pos]:
        logits = model.forward([tok])[-1]
    dtype = pair.target.dtype
    top = torch.topk(logits, 2)
    a, b = float(logits[ref[pos]]), float(logits[oth[pos]])
    return Divergence(
        position=pos, reference_token=ref[pos], other_token=oth[pos],
        top_two=(int(top.indices[0]), int(top.indices[1])),
        top_two_logits=(float(top.values[0]), float(top.values[1])),
        gap=a - b, resolution=resolution(dtype, max(abs(a), abs(b))), dtype=dtype, ulps=ulps,
    )
