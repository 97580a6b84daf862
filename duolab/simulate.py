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
from duolab.round_policy import RoundPolicy
from duolab.trace import TRACE_COLUMNS

# how often a rejected token's correction is one of the draft's next-best tokens there (the outcome chain that
# was pre-drafted for it); duo measures it per generation as `outcome_hit_rate` (0.20-0.33 on the
# seven tasks with the default pair, median 0.24)
OUTCOME_HIT = 0.25


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

    def outcome(self, hit: float) -> bool:
        """Was a rejection's correction the pre-drafted one (probability `hit`)?"""
        return self.rng.random() < hit

    def first(self, pos: int) -> bool:
        """Does a first token of the next block match the target's token at position pos?"""
        if self.agreement is None:
            return self.rng.random() < self.first_match
        return pos < len(self.agreement) and bool(self.agreement[pos])


def simulate(profile: LatencyProfile, method: str, alpha: float, budget: int | str = 4,
             new_tokens: int = 128, prompt_tokens: int = 128, first_match: float | None = None,
             catch_up: int | str = "auto", seed: int = 0, max_new_tokens: int | None = None,
             agreement: list[bool] | None = None, outcomes: bool = True,
             outcome_hit: float = OUTCOME_HIT) -> Simulation:
    """One simulated generation that stops after `new_tokens` tokens (an EOS when fewer than
    `max_new_tokens`, the cap the decoder sizes its drafts by; default: no EOS). With
    `agreement` (see `duolab.profiling.measure_workload`) acceptance replays it exactly instead of
    drawing from alpha.

    duo's options are the decoder's, with its defaults: `budget` and `catch_up` take "auto"
    (chosen each round by duolab.round_policy from the profile and the running alpha, prior
    `alpha`), and with `outcomes` the draft pre-drafts rejection outcomes in the time the target's
    forward leaves it (`budget=8, catch_up=0, outcomes=False` is the paper's schedule).
    A rejection at block position i is then caught with probability `outcome_hit` (how often the
    target's correction was pre-drafted; measured by duo as `outcome_hit_rate`) when
    the time left covered at least i + 1 outcome chains (they are ranked, so the early positions,
    where rejections are likeliest, come first)."""
    events, stats = _simulate_events(profile, method, alpha, budget, new_tokens, prompt_tokens,
                                     first_match, catch_up, seed, max_new_tokens, agreement,
                                     outcomes, outcome_hit)
    return Simulation(pd.DataFrame(events, columns=TRACE_COLUMNS), stats)


def _simulate_events(profile, method, alpha, budget=4, new_tokens=128, prompt_tokens=128,
                     first_match=None, catch_up="auto", seed=0, max_new_tokens=None,
                     agreement=None, outcomes=True, outcome_hit=OUTCOME_HIT) -> tuple[list[tuple], dict]:
    """simulate's work without building the DataFrame, which costs ~40x the simulation itself
    (budget sweeps run thousands): (events, stats)."""
    if method not in ("ar", "sps", "duo"):
        raise ValueError(f"simulate supports 'ar', 'sps' and 'duo', got {method!r}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    auto_ok = method == "duo" and budget == "auto"
    if method != "ar" and not auto_ok and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise ValueError(f"budget must be an integer >= 1{' or auto' if method == 'duo' else ''}, got {budget!r}")
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
            t = add("target", "sync", t, p.sync_ms, rnd) + p.round_overhead_ms
            made += accept.chain(made, n) + 1
            forwards, rnd = forwards + 1, rnd + 1
            ttft = ttft if ttft is not None else t
    else:  # duo: target verifies block d while the draft drafts the next one (see duolab/duo.py)
        policy = RoundPolicy(p, alpha, None if budget == "auto" else budget,
                             None if catch_up == "auto" else catch_up, outcomes)
        block, empty, rejections, hits = 0, 0, 0, 0
        while made < new_tokens:
            if block == 0 and rnd > 0:
                empty += 1
                c = min(policy.catch_up_tokens(), cap - made - 1)
                if c > 0:
                    end = add("draft", "catch_up", t + p.channel_ms / 2, p.draft_ms(c), rnd)
                    t = add("target", "wait", t, end + p.channel_ms / 2 - t, rnd)
                    block = c
            n = 1 if rnd == 0 else min(policy.draft_budget(block + 1), cap - made - block - 1)
            fwd = prefill if rnd == 0 else p.target_ms(block + 1)
            t_fwd = add("target", "forward", t, fwd, rnd)
            ready, chains = t_fwd, 0
            if n >= 1:
                d_end = add("draft", "draft", t + p.channel_ms / 2, p.draft_ms(n), rnd)
                ready = max(t_fwd, d_end + p.channel_ms / 2)
                if outcomes and block and rnd > 0:  # outcome chains in the time the forward leaves
                    chain_ms = policy.outcome_length() * p.draft_ms_per_token
                    chains = min(block, max(0, int((t_fwd - p.channel_ms / 2 - d_end) / chain_ms)))
                    if chains:
                        add("draft", "outcomes", d_end, chains * chain_ms, rnd)
            if ready > t_fwd:
                add("target", "wait", t_fwd, ready - t_fwd, rnd)
            t = add("target", "sync", ready, p.sync_ms, rnd) + p.round_overhead_ms
            a = accept.chain(made, block)
            policy.observe(min(block, a + 1), a)
            passed = a == block and n >= 1 and accept.first(made + block)
            made += a + 1
            forwards += 1
            ttft = ttft if ttft is not None else t
            if a < block:
                rejections += 1
                caught = a < chains and accept.outcome(outcome_hit)
                hits += caught
                block = min(policy.outcome_length() - 1, max(cap - made - 1, 0)) if caught else 0
            else:
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
    if method == "duo":
        stats.update(empty_start_fraction=empty / max(1, rnd - 1),
                     outcome_hit_rate=hits / rejections if rejections else 0.0)
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
