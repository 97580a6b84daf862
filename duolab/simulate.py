"""Event-driven simulation of the AR, SpS and duo schedules from a LatencyProfile.

Acceptance model: each draft token passes independently with probability `alpha` (a chain stops
at the first failure); in duo, the target's token after a fully accepted block equals a first
token of the next block with probability `first_match` (alpha by default; higher with several
sequences). Durations come from the profile. The output trace has the columns of a real
`Generation.trace`, so simulated and measured timelines can be drawn side by side, and a profile
from another machine (say an H100 target with a 16-core CPU draft) answers "what if".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd

from duolab.latency_profile import LatencyProfile
from duolab.trace import TRACE_COLUMNS


@dataclass
class Simulation:
    trace: pd.DataFrame
    stats: dict


class _Acceptance:
    """Which drafts pass: Bernoulli(alpha) per token, or -- given `agreement`, the per-position
    record of whether the draft's greedy token equals the target's -- an exact replay of greedy
    verification (a draft for new-token position i passes iff agreement[i])."""

    def __init__(self, seed: int, alpha: float, first_match: float, agreement: list[bool] | None):
        self.rng, self.alpha, self.first_match, self.agreement = random.Random(seed), alpha, first_match, agreement

    def chain(self, pos: int, n: int) -> int:
        """Accepted count of n chained drafts for positions pos, pos+1, ..."""
        a = 0
        if self.agreement is None:
            while a < n and self.rng.random() < self.alpha:
                a += 1
        else:
            while a < n and pos + a < len(self.agreement) and self.agreement[pos + a]:
                a += 1
        return a

    def first(self, pos: int) -> bool:
        """Does a first token of the next block match the target's token at position pos?"""
        if self.agreement is None:
            return self.rng.random() < self.first_match
        return pos < len(self.agreement) and bool(self.agreement[pos])


def simulate(profile: LatencyProfile, method: str, alpha: float, budget: int = 4,
             new_tokens: int = 128, prompt_tokens: int = 128, first_match: float | None = None,
             catch_up: int = 0, seed: int = 0, max_new_tokens: int | None = None,
             agreement: list[bool] | None = None) -> Simulation:
    """One simulated generation that stops after `new_tokens` tokens (an EOS when fewer than
    `max_new_tokens`, the cap the decoder sizes its drafts by; default: no EOS). With
    `agreement` (see `duolab.profiling.measure_workload`) acceptance replays it exactly instead of
    drawing from alpha."""
    events, stats = _simulate_events(profile, method, alpha, budget, new_tokens, prompt_tokens,
                                     first_match, catch_up, seed, max_new_tokens, agreement)
    return Simulation(pd.DataFrame(events, columns=TRACE_COLUMNS), stats)


def _simulate_events(profile, method, alpha, budget=4, new_tokens=128, prompt_tokens=128,
                     first_match=None, catch_up=0, seed=0, max_new_tokens=None,
                     agreement=None) -> tuple[list[tuple], dict]:
    """simulate's work without building the DataFrame, which costs ~40x the simulation itself
    (budget sweeps run thousands): (events, stats)."""
    if method not in ("ar", "sps", "duo"):
        raise ValueError(f"simulate supports 'ar', 'sps' and 'duo', got {method!r}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if method != "ar" and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be an integer >= 1, got {budget!r}")
    cap = max(max_new_tokens or new_tokens, new_tokens)
    accept = _Acceptance(seed, alpha, alpha if first_match is None else first_match, agreement)
    events: list[tuple] = []
    p = profile
    prefill = p.prefill(prompt_tokens)

    def add(side, kind, start, dur, rnd):
        events.append((side, kind, start / 1000, (start + dur) / 1000, rnd))
        return start + dur

    t, made, forwards, rnd, ttft = 0.0, 0, 0, 0, None
    if method == "ar":
        while made < new_tokens:
            t = add("target", "forward", t, prefill if made == 0 else p.ar_step_ms or p.target_ms(1), rnd)
            t += p.sync_ms / 4  # sampling one token is a fraction of a verification's sync
            made, forwards = made + 1, forwards + 1
            ttft = ttft if ttft is not None else t
    elif method == "sps":
        while made < new_tokens:
            n = min(budget, cap - made - 1)
            t = add("draft", "draft", t, n * p.sps_draft_ms_per_token, rnd)
            extra = p.target_ms(n + 1) - p.target_ms(1)
            t = add("target", "verify", t, (prefill + extra) if rnd == 0 else p.target_ms(n + 1), rnd)
            t = add("target", "sync", t, p.sync_ms, rnd)
            made += accept.chain(made, n) + 1
            forwards, rnd = forwards + 1, rnd + 1
            ttft = ttft if ttft is not None else t
    else:  # duo: target verifies block d while the draft drafts the next one
        block = 0
        while made < new_tokens:
            if block == 0 and rnd > 0 and catch_up and cap - made > 1:
                c = min(catch_up, cap - made - 1)
                end = add("draft", "catch_up", t + p.channel_ms / 2, p.draft_ms(c), rnd)
                t = add("target", "wait", t, end + p.channel_ms / 2 - t, rnd)
                block = c
            n = 1 if rnd == 0 else min(budget, cap - made - block - 1)
            fwd = prefill if rnd == 0 else p.target_ms(block + 1)
            t_fwd = add("target", "forward", t, fwd, rnd)
            ready = t_fwd
            if n >= 1:
                d_end = add("draft", "draft", t + p.channel_ms / 2, p.draft_ms(n), rnd)
                ready = max(t_fwd, d_end + p.channel_ms / 2)
            if ready > t_fwd:
                add("target", "wait", t_fwd, ready - t_fwd, rnd)
            t = add("target", "sync", ready, p.sync_ms, rnd)
            a = accept.chain(made, block)
            passed = a == block and n >= 1 and accept.first(made + block)
            made += a + 1
            forwards += 1
            ttft = ttft if ttft is not None else t
            block = min(n - 1, max(cap - made - 1, 0)) if passed else 0
            rnd += 1
    made = min(made, new_tokens)
    wall = t / 1000
    busy = {"target": 0.0, "draft": 0.0}
    for side, kind, start, end, _ in events:
        if kind != "wait":
            busy[side] += end - start
    stats = {"method": method, "budget": budget if method != "ar" else None, "alpha": alpha,
             "new_tokens": made, "wall_time_s": wall, "tokens_per_s": made / wall,
             "ttft_s": (ttft or t) / 1000, "target_forwards": forwards, "tau": made / forwards,
             "rounds": rnd, **{f"idle_fraction_{s}": 1 - busy.get(s, 0.0) / wall
                               for s in ("target", "draft")}}
    return events, stats


def expected_throughput(profile: LatencyProfile, method: str, alpha: float, budget: int = 4,
                        runs: int = 40, **kwargs) -> float:
    """Mean tokens/s over `runs` seeded simulations (deterministic for given arguments)."""
    total_tokens = total_s = 0.0
    for seed in range(runs):
        s = _simulate_events(profile, method, alpha, budget, seed=seed, **kwargs)[1]
        total_tokens += s["new_tokens"]
        total_s += s["wall_time_s"]
    return total_tokens / total_s
