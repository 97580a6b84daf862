"""What every decoder shares: the per-call bookkeeping (`Run`), the result (`Generation`), the
method registry, and `generate`, the one entry point with one signature for every method."""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import torch

from duolab.arguments import is_whole
from duolab.models import Pair
from duolab.runtime import target_placement
from duolab.sampling import SamplingConfig
from duolab.trace import TRACE_COLUMNS


@dataclass
class Generation:
    """The result of one `generate` call."""

    text: str
    token_ids: list[int]  # new tokens only
    stats: dict
    trace: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    details: dict = field(repr=False, default_factory=dict)  # method-specific, e.g. duo's draft trees

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"Generation({s['method']}, {s['new_tokens']} tokens, {s['tokens_per_s']:.1f} tok/s, "
            f"ttft {1000 * s['ttft_s']:.1f} ms, tau {s['tau']:.2f}): {self.text[:60]!r}"
        )


class Run:
    """Bookkeeping for one generation: committed tokens, stop conditions, counters, trace.

    Decoders call `commit` with the tokens they decided on; it enforces EOS, max_new_tokens and
    the context length, and stamps TTFT on the first committed token.
    """

    def __init__(self, pair: Pair, prompt_ids: list[int], max_new_tokens: int,
                 sampling: SamplingConfig, seed: int, t0: float):
        self.pair = pair
        self.prompt_ids = prompt_ids
        self.max_new_tokens = min(max_new_tokens, pair.context_length - len(prompt_ids))
        self.sampling = sampling
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.t0 = t0
        self.tokens: list[int] = []
        self.done = False
        self.stop_reason = ""
        self.ttft_s: float | None = None
        self.target_forwards = 0
        self.draft_tokens = 0  # proposed draft tokens
        self.accepted_tokens = 0
        self.reached_by_position: list[int] = []  # how often draft position i was checked
        self.accepted_by_position: list[int] = []
        self.rounds = 0
        self.draft_runner: str | None = None  # the runner that drafted ("fast", "transformers", ...)
        self.events: list[tuple] = []
        self.extra: dict = {}  # method-specific stats (scalars and short lists)
        self.details: dict = {}  # method-specific bulky records (e.g. every draft tree)

    # -- committing ------------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        return self.max_new_tokens - len(self.tokens)

    @property
    def sequence(self) -> list[int]:
        return self.prompt_ids + self.tokens

    def commit(self, tokens: list[int]) -> bool:
        """Append decided tokens; returns True when the generation is finished."""
        eos = self.pair.eos_token_id
        for tok in tokens:
            if self.done:
                break
            self.tokens.append(int(tok))
            if self.ttft_s is None:
                self.ttft_s = time.perf_counter() - self.t0
            if eos is not None and tok == eos:
                self.done, self.stop_reason = True, "eos"
            elif self.remaining <= 0:
                self.done, self.stop_reason = True, "max_new_tokens"
        return self.done

    # -- statistics ------------------------------------------------------------------------
    def record_verdict(self, proposed: int, accepted: int, first_position: int = 0) -> None:
        """A block of `proposed` draft tokens was checked and the first `accepted` passed; the
        block's first token sits at draft position `first_position` of its round. (Proposed draft
        tokens are counted by the decoder: some are never checked.)"""
        self.accepted_tokens += accepted
        checked = min(proposed, accepted + 1)  # positions after the first rejection are never checked
        while len(self.reached_by_position) < first_position + proposed:
            self.reached_by_position.append(0)
            self.accepted_by_position.append(0)
        for i in range(checked):
            self.reached_by_position[first_position + i] += 1
            self.accepted_by_position[first_position + i] += int(i < accepted)

    @contextmanager
    def span(self, side: str, kind: str):
        """Time a piece of work for the trace (side: 'target' or 'draft')."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.events.append((side, kind, start - self.t0, time.perf_counter() - self.t0, self.rounds))

    def finish(self, method: str, options: dict) -> Generation:
        wall = time.perf_counter() - self.t0
        n = len(self.tokens)
        trace = pd.DataFrame(self.events, columns=TRACE_COLUMNS)
        stats = {
            "method": method,
            **options,
            "temperature": self.sampling.temperature,
            "top_k": self.sampling.top_k,
            "top_p": self.sampling.top_p,
            "seed": self.seed,
            "prompt_tokens": len(self.prompt_ids),
            "new_tokens": n,
            "wall_time_s": wall,
            "ttft_s": self.ttft_s if self.ttft_s is not None else wall,
            "tokens_per_s": n / wall if wall > 0 else 0.0,
            "target_forwards": self.target_forwards,
            "draft_tokens": self.draft_tokens,
            "accepted_tokens": self.accepted_tokens,
            "tau": n / self.target_forwards if self.target_forwards else 0.0,
            "acceptance_rate": self.accepted_tokens / self.draft_tokens if self.draft_tokens else 0.0,
            "acceptance_by_position": [
                a / r if r else 0.0 for a, r in zip(self.accepted_by_position, self.reached_by_position, strict=False)
            ],
            "rounds": self.rounds,
            "draft_runner": self.draft_runner,
            "target_runner": self.pair.target_runner,
            # torch threads of this (calling) process: measured on accelerator hosts (duolab.profiling)
            "caller_threads": self.pair.layout.target_threads if self.pair.layout else None,
            "stop_reason": self.stop_reason or "max_new_tokens",
            **self.extra,
        }
        text = self.pair.tokenizer.decode(self.tokens, skip_special_tokens=True)
        return Generation(text, list(self.tokens), stats, trace, self.details)


# -- method registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    name: str
    decode: Callable[..., None]  # decode(run, **options) -> None; commits into run
    defaults: dict  # option name -> default value
    check: Callable[[dict], None]  # raises ValueError on bad options, before any model work
    prepare: Callable[[Pair, dict], None] | None  # one-time set-up outside the timed call (e.g. a worker)


METHODS: dict[str, Method] = {}


def register_method(name: str, defaults: dict | None = None, check: Callable[[dict], None] | None = None,
                    prepare: Callable[[Pair, dict], None] | None = None):
    def wrap(fn):
        METHODS[name] = Method(name, fn, dict(defaults or {}), check or (lambda options: None), prepare)
        return fn

    return wrap


def check_budget(options: dict) -> None:
    budget = options.get("budget")
    if not is_whole(budget, 1):
        raise ValueError(f"budget must be an integer >= 1 (draft tokens per round), got {budget!r}")


def generate(
    pair: Pair,
    prompt: str,
    *,
    method: str = "ar",
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    **options,
) -> Generation:
    """Generate a continuation of `prompt` with the given method. Same signature for every method;
    method-specific options (e.g. budget=) are keyword arguments, checked before any work.
    The clock (wall time, TTFT) starts after the checks and any one-time set-up of the method."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    m = METHODS[method]
    unknown = set(options) - set(m.defaults)
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for method {method!r}; it accepts {sorted(m.defaults) or 'none'}"
        )
    opts = {**m.defaults, **options}
    m.check(opts)
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError("prompt is empty")
    if not is_whole(max_new_tokens, 1):
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    sampling = SamplingConfig(temperature, top_k, top_p)
    sampling.check()
    if seed is not None and not is_whole(seed):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    prompt_ids = pair.tokenizer.encode(prompt)
    if len(prompt_ids) >= pair.context_length:
        raise ValueError(
            f"prompt is {len(prompt_ids)} tokens, longer than the model's context of "
            f"{pair.context_length} tokens (leave room for at least one new token)"
        )
    if m.prepare is not None:
        m.prepare(pair, opts)
    t0 = time.perf_counter()
    run = Run(pair, prompt_ids, max_new_tokens, sampling,
              seed if seed is not None else secrets.randbits(62), t0)
    with target_placement(pair.layout):
        m.decode(run, **opts)
    return run.finish(method, opts)
