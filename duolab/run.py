"""The books of one generation (`Run`) and its result (`Generation`).

A decoder gets a `Run`, decides tokens and `commit`s them; the run enforces EOS, max_new_tokens
and the context length, stamps TTFT, and keeps the counters, the trace and the method's stats.
A decoder never writes them itself: it tells the run what happened (`commit` with the target
forwards and the round it ends, `drafted`, `record_verdict`, `count`, `span`, `add_span`,
`drafts_with`, `add_stats`; `report_totals` for a loop someone else ran), and the run keeps the
books (tests/test_run_books.py holds the decoders to that). `finish` turns it into the
`Generation` every method returns.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import pandas as pd
import torch

from duolab.models import Pair
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
        self.events: list[tuple] = []  # trace rows (TRACE_COLUMNS); written by span and add_span
        self.counts: Counter = Counter()  # a method's own events (duo: rejections, outcome hits, ...)
        self.extra: dict = {}  # method-specific stats (scalars and short lists); set by add_stats
        self.details: dict = {}  # method-specific bulky records (e.g. every draft tree)

    # -- committing ------------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        return self.max_new_tokens - len(self.tokens)

    @property
    def sequence(self) -> list[int]:
        return self.prompt_ids + self.tokens

    def commit(self, tokens: list[int], forwards: int = 0, ends_round: bool = False) -> bool:
        """Append decided tokens, which `forwards` target forwards decided (and which end a round
        of drafting and verifying); returns True when the generation is finished."""
        self.target_forwards += forwards
        self.rounds += int(ends_round)
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
    def drafted(self, n: int) -> None:
        """n draft tokens were proposed (some are never checked)."""
        self.draft_tokens += n

    def drafts_with(self, runner: str) -> None:
        """The runner the draft runs on ("fast", "transformers", ...), for the stats."""
        self.draft_runner = runner

    def report_totals(self, first_token_at: float | None, target_forwards: int, draft_tokens: int,
                      accepted_tokens: int) -> None:
        """The books of a generation whose loop someone else ran (transformers' generate), after its
        tokens were committed: when its first token came (perf_counter seconds), its target forwards
        (one round each), proposed and accepted draft tokens."""
        if first_token_at is not None:
            self.ttft_s = first_token_at - self.t0
        self.target_forwards = self.rounds = target_forwards
        self.draft_tokens, self.accepted_tokens = draft_tokens, accepted_tokens

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

    def add_span(self, side: str, kind: str, start: float, end: float) -> None:
        """A piece of work timed elsewhere (perf_counter seconds; e.g. by the draft worker)."""
        self.events.append((side, kind, start - self.t0, end - self.t0, self.rounds))

    def busy_s(self, side: str) -> float:
        """Seconds `side` spent working (waits excluded)."""
        return sum(end - start for s, kind, start, end, _ in self.events if s == side and kind != "wait")

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] += n

    def add_stats(self, **stats) -> None:
        """Method-specific entries of `Generation.stats`."""
        self.extra.update(stats)

    def add_details(self, **details) -> None:
        """Method-specific bulky records of `Generation.details` (e.g. duo's draft trees)."""
        self.details.update(details)

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
            # torch threads of this (calling) process: measured on accelerator hosts (duolab.measure.profiling)
            "caller_threads": self.pair.layout.target_threads if self.pair.layout else None,
            "stop_reason": self.stop_reason or "max_new_tokens",
            **self.extra,
        }
        text = self.pair.tokenizer.decode(self.tokens, skip_special_tokens=True)
        return Generation(text, list(self.tokens), stats, trace, self.details)
