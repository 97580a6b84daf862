"""Event-driven simulation of the AR, SpS, PLD and duo schedules from a LatencyProfile.

Acceptance model: each draft token passes independently with probability `alpha` (a chain stops
at the first failure); in duo, the target's token after a fully accepted block equals a first
token of the next block with probability `first_match` (alpha by default; higher with several
sequences). Durations come from the profile. The output trace has the columns of a real
`Generation.trace`, so simulated and measured timelines can be drawn side by side, and a profile
from another machine (say an H100 target with a 16-core CPU draft) answers "what if".

PLD (prompt lookup) replays `lookups`, what prompt lookup proposed at each position of the target's
greedy output and how much of it matched (`profiling.measure_workload`): its drafts cost nothing,
its verification T_t(n + 1). Like the decoders, one function per method runs the generation round
by round (`_run_ar`, `_run_sps`, `_run_pld`, `_run_duo`; a duo round is `_duo_round`, which returns what it did), and a
`_Timeline` keeps the books: clock, trace events, tokens, forwards, rounds, TTFT.

A simulation's options (budget, shape, seed, duo's schedule, retrieval, ...) are one frozen
`SimParams` (duolab.predict.sim_params), the only place their defaults are written; `simulate`,
`expected_throughput` and duolab.predict.budget take one as `params=`, and its fields as keywords.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd

from duolab.latency_profile import LatencyProfile
from duolab.methods.round_policy import RoundPolicy
from duolab.predict.outcome_cache import OutcomeCache
from duolab.predict.sim_params import (
    FROM_PARAMS,
    OUTCOME_HIT,
    SIM_PARAM_NAMES,
    SimParams,
    sim_params,
)
from duolab.trace import TRACE_COLUMNS

__all__ = ["FROM_PARAMS", "OUTCOME_HIT", "SIM_PARAM_NAMES", "SimParams", "Simulation", "expected_throughput",
           "sim_params", "simulate"]

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


def simulate(profile: LatencyProfile, method: str, alpha: float, budget: int | str = FROM_PARAMS, *,
             params: SimParams | None = None, **overrides) -> Simulation:
    """One simulated generation of `method` ("ar", "sps", "pld" or "duo") at acceptance `alpha`;
    its options are a SimParams (see there, defaults included): `params`, with any field named as
    a keyword replacing its value (`simulate(profile, "duo", 0.7, budget=8, new_tokens=64)`, or
    the budget positionally: `simulate(profile, "sps", 0.7, 4)`)."""
    events, stats = _simulate_events(profile, method, alpha, sim_params(params, budget, overrides))
    return Simulation(pd.DataFrame(events, columns=TRACE_COLUMNS), stats)


def _simulate_events(profile: LatencyProfile, method: str, alpha: float,
                     params: SimParams) -> tuple[list[tuple], dict]:
    """simulate's work without building the DataFrame, which costs ~40x the simulation itself
    (budget sweeps run thousands): (events, stats)."""
    params.check(method, alpha)
    return _run(profile, method, alpha, params, params.seed)


def _run(profile: LatencyProfile, method: str, alpha: float, params: SimParams,
         seed: int) -> tuple[list[tuple], dict]:
    """_simulate_events with `params` checked already, at `seed` (expected_throughput's runs)."""
    budget = params.budget
    accept = _Acceptance(seed, alpha, alpha if params.first_match is None else params.first_match,
                         params.agreement)
    sim = _Timeline(profile, profile.prefill(params.prompt_tokens), params.new_tokens,
                    max(params.max_new_tokens or params.new_tokens, params.new_tokens))
    extra = {}
    if method == "ar":
        _run_ar(sim)
    elif method == "sps":
        _run_sps(sim, accept, budget, _Retrieval(params.lookups, params.retrieval))
    elif method == "pld":
        _run_pld(sim, params.lookups, budget)
    else:
        policy = RoundPolicy.from_options(profile, alpha, budget, params.catch_up, params.outcomes)
        extra = _run_duo(sim, accept, policy, params.outcomes, params.outcome_hit, params.cache,
                         _Retrieval(params.lookups, params.retrieval))
    return sim.events, {**sim.stats(method, None if method == "ar" else budget, alpha), **extra}


class _Timeline:
    """The books of one simulated generation: the clock t (ms), the trace events, tokens made,
    target forwards, rounds and TTFT. Each method's loop below advances it round by round."""

    def __init__(self, profile: LatencyProfile, prefill: float, new_tokens: int, cap: int):
        self.p, self.prefill, self.new_tokens, self.cap = profile, prefill, new_tokens, cap
        self.events: list[tuple] = []
        self.t, self.made, self.forwards, self.rounds, self.ttft = 0.0, 0, 0, 0, None

    @property
    def done(self) -> bool:
        return self.made >= self.new_tokens

    def add(self, side: str, kind: str, start: float, dur: float) -> float:
        """One event of this round from `start` (ms) for `dur` ms; returns its end."""
        self.events.append((side, kind, start / 1000, (start + dur) / 1000, self.rounds))
        return start + dur

    def committed(self, tokens: int, next_round: bool = True) -> None:
        """A target forward that committed `tokens`, its round over at the clock."""
        self.made, self.forwards = self.made + tokens, self.forwards + 1
        self.ttft = self.ttft if self.ttft is not None else self.t
        self.rounds += next_round

    def stats(self, method: str, budget, alpha: float) -> dict:
        made, wall = min(self.made, self.new_tokens), self.t / 1000
        busy = {"target": 0.0, "draft": 0.0}
        for side, kind, start, end, _ in self.events:
            if kind != "wait":
                busy[side] += end - start
        return {"method": method, "budget": budget, "alpha": alpha, "new_tokens": made, "wall_time_s": wall,
                "tokens_per_s": made / wall, "ttft_s": (self.ttft or self.t) / 1000,
                "target_forwards": self.forwards, "tau": made / self.forwards, "rounds": self.rounds,
                **{f"idle_fraction_{s}": 1 - busy[s] / wall for s in ("target", "draft")}}


def _run_ar(sim: _Timeline) -> None:
    """AR: one target forward per token (the first is the prefill)."""
    p = sim.p
    while not sim.done:
        sim.t = sim.add("target", "forward", sim.t, sim.prefill if sim.made == 0 else p.ar_step_ms or p.target_ms(1))
        sim.t += p.sync_ms / 4  # sampling one token is a fraction of a verification's sync
        sim.committed(1, next_round=False)


class _Retrieval:
    """Retrieved chains replayed from a workload's prompt lookups: what lookup proposes after the
    committed text at new-token position pos (capped by `cap` and the room left), and how many of
    those tokens pass. Replayed exactly only after a correct prefix; a chain proposed after a
    rejected draft is never reached, so only its length (taken from the same position) counts."""

    def __init__(self, lookups: list[tuple[int, int]] | None, cap: int):
        self.lookups, self.cap = lookups or [], cap

    def at(self, pos: int, room: int) -> tuple[int, int]:
        if not self.cap or pos >= len(self.lookups):
            return 0, 0
        proposed, matched = self.lookups[pos]
        r = max(0, min(self.cap, proposed, room))
        return r, min(matched, r)


def _run_sps(sim: _Timeline, accept: _Acceptance, budget: int, retrieval: _Retrieval) -> None:
    """SpS: each round drafts n tokens on the target's core, then verifies them in one forward.
    With retrieval, a round whose context has a lookup match verifies the retrieved chain and
    drafts nothing (it costs no draft time); otherwise the model's n drafts, then what lookup
    proposes after them, in one forward."""
    p = sim.p
    while not sim.done:
        room = sim.cap - sim.made - 1
        first, first_passed = retrieval.at(sim.made, room)
        n = 0 if first else min(budget, room)
        t = sim.add("target", "retrieve", sim.t, p.lookup_ms) if retrieval.cap else sim.t
        t = sim.add("draft", "draft", t, n * p.sps_draft_ms_per_token)
        a = accept.chain(sim.made, n)
        more, more_passed = retrieval.at(sim.made + n, room - n) if n and not first else (0, 0)
        size = first or n + more
        extra = p.target_ms(size + 1) - p.target_ms(1)
        t = sim.add("target", "verify", t, (sim.prefill + extra) if sim.rounds == 0 else p.target_ms(size + 1))
        sim.t = sim.add("target", "sync", t, p.sync_ms) + p.round_overhead_ms
        sim.committed((first_passed if first else a + (more_passed if a == n else 0)) + 1)


def _run_pld(sim: _Timeline, lookups: list[tuple[int, int]], budget: int) -> None:
    """PLD: each round verifies what prompt lookup proposed (up to `budget` tokens, free to draft)."""
    p = sim.p
    while not sim.done:
        proposed, matched = lookups[sim.made] if sim.made < len(lookups) else (0, 0)
        n = max(0, min(budget, proposed, sim.cap - sim.made - 1))
        extra = p.target_ms(n + 1) - p.target_ms(1)
        t = sim.add("target", "verify", sim.t, (sim.prefill + extra) if sim.rounds == 0 else p.target_ms(n + 1))
        sim.t = sim.add("target", "sync", t, p.sync_ms) + p.round_overhead_ms
        sim.committed(min(matched, n) + 1)


@dataclass
class _DuoRound:
    """What one simulated duo round did: tokens accepted of its block, whether the draft's next
    block still stands (its first token matched), the block positions whose rejection outcomes
    were drafted, the tokens drafted for the next block, and (with an outcome cache) how likely a
    rejection at a covered position was caught."""

    accepted: int
    passed: bool
    chains: int
    drafted: int
    hit: float = 0.0


def _run_duo(sim: _Timeline, accept: _Acceptance, policy: RoundPolicy, outcomes: bool, outcome_hit: float,
             cache: OutcomeCache | None = None, retrieval: _Retrieval | None = None) -> dict:
    """duo: the target verifies block d while the draft drafts the next one (see duolab/methods/duo.py);
    the books of its empty starts and caught rejections. With retrieval, the round's forward also
    verifies what lookup proposes after d (or, with nothing to verify, after the committed text,
    instead of waiting for a catch-up chain); when retrieved tokens pass, the tree drafted after d
    carries on only as far as its main sequence agrees with what was committed."""
    retrieval = retrieval or _Retrieval(None, 0)
    block, empty, rejections, hits, retrieved = 0, 0, 0, 0, 0
    while not sim.done:
        if block == 0 and sim.rounds > 0:
            empty += 1
            if not retrieval.at(sim.made, sim.cap - sim.made - 1)[0]:  # a retrieved chain needs no wait
                block = _duo_catch_up(sim, policy)
        if retrieval.cap:
            block, got = _duo_round_with_retrieval(sim, accept, policy, block, retrieval)
            retrieved += got
            continue
        r = _duo_round(sim, accept, policy, block, outcomes, cache)
        sim.committed(r.accepted + 1)
        if r.accepted < block:
            rejections += 1
            caught = r.accepted < r.chains and accept.outcome(outcome_hit if cache is None else r.hit)
            hits += caught
            block = min(_cached_length(cache, policy) - 1, max(sim.cap - sim.made - 1, 0)) if caught else 0
        elif r.passed:
            block = min(r.drafted - 1, max(sim.cap - sim.made - 1, 0))
        else:  # the target's next token opened no sequence: was it one of the cache's guesses?
            caught = cache is not None and r.chains > 0 and accept.outcome(r.hit)
            block = min(_cached_length(cache, policy) - 1, max(sim.cap - sim.made - 1, 0)) if caught else 0
    return {"empty_start_fraction": empty / max(1, sim.rounds - 1),
            "outcome_hit_rate": hits / rejections if rejections else 0.0,
            **({"retrieved_fraction": retrieved / max(1, sim.made)} if retrieval.cap else {})}


def _duo_round_with_retrieval(sim: _Timeline, accept: _Acceptance, policy: RoundPolicy, block: int,
                              retrieval: _Retrieval) -> tuple[int, int]:
    """A duo round whose forward verifies `block` and then what lookup proposes after it, while the
    worker drafts its next tree (n tokens, main sequence first, no more than the forward hides);
    no outcome chains (the retrieved tokens take their place). Commits, and returns (the next
    block, retrieved tokens committed)."""
    p, room = sim.p, sim.cap - sim.made - 1
    t = sim.add("target", "retrieve", sim.t, p.lookup_ms)
    more, more_passed = retrieval.at(sim.made + block, room - block)
    fwd_ms = p.target_ms(block + more + 1)
    # the worker drafts no more than the forward hides: a retrieved chain is not held up by it
    hidden = policy.hidden_draft_tokens(block + more + 1)
    n = max(0, min(policy.draft_budget(block + more + 1), room - block, room if hidden is None else hidden))
    if sim.rounds == 0:  # the prefill verifies the retrieved chain too; the worker drafts one token
        fwd_ms, n = sim.prefill + fwd_ms - p.target_ms(1), min(1, room)
    t_fwd = sim.add("target", "forward", t, fwd_ms)
    ready = t_fwd
    if n >= 1:
        d_end = sim.add("draft", "draft", t + p.channel_ms / 2, p.draft_ms(n))
        ready = max(t_fwd, d_end + p.channel_ms / 2)
    if ready > t_fwd:
        sim.add("target", "wait", t_fwd, ready - t_fwd)
    sim.t = sim.add("target", "sync", ready, p.sync_ms) + p.round_overhead_ms
    a = accept.chain(sim.made, block)
    policy.observe(min(block, a + 1), a)
    got = more_passed if a == block else 0
    root = sim.made + block  # where the worker's tree starts
    sim.committed(a + got + 1)
    if a < block or n < 1:
        return 0, 0
    # the main sequence carries on if it agrees with the committed tokens past the block
    if accept.first(root) and accept.chain(root + 1, got) == got and n > got + 1:
        return min(n - got - 1, max(sim.cap - sim.made - 1, 0)), got
    return 0, got


def _cached_length(cache: OutcomeCache | None, policy: RoundPolicy) -> int:
    """Tokens of a pre-drafted outcome chain (its correction and continuation)."""
    return cache.length if cache is not None and cache.length else policy.outcome_length()


def _duo_catch_up(sim: _Timeline, policy: RoundPolicy) -> int:
    """A round with nothing to verify: wait for a catch-up chain when the policy says so; its length."""
    p = sim.p
    c = min(policy.catch_up_tokens(), sim.cap - sim.made - 1)
    if c > 0:
        end = sim.add("draft", "catch_up", sim.t + p.channel_ms / 2, p.draft_ms(c))
        sim.t = sim.add("target", "wait", sim.t, end + p.channel_ms / 2 - sim.t)
    return max(c, 0)


def _duo_round(sim: _Timeline, accept: _Acceptance, policy: RoundPolicy, block: int, outcomes: bool,
               cache: OutcomeCache | None = None) -> _DuoRound:
    """One duo round: the target's forward over `block` (and its next token) while the draft drafts
    n tokens of the next block and, in the time left, outcome chains; then the sync."""
    p, t = sim.p, sim.t
    n = 1 if sim.rounds == 0 else min(policy.draft_budget(block + 1), sim.cap - sim.made - block - 1)
    t_fwd = sim.add("target", "forward", t, sim.prefill if sim.rounds == 0 else p.target_ms(block + 1))
    ready, chains, hit = t_fwd, 0, 0.0
    if n >= 1:
        d_end = sim.add("draft", "draft", t + p.channel_ms / 2, p.draft_ms(n))
        ready = max(t_fwd, d_end + p.channel_ms / 2)
        if outcomes and block and sim.rounds > 0 and cache is not None:  # batched, on the free workers
            start = t + p.channel_ms / 2 if cache.workers > 1 else d_end
            avail = t_fwd - p.channel_ms / 2 - start
            chains, hit = cache.plan(block, policy.alpha, avail, _cached_length(cache, policy), p.draft_ms_per_token)
            if chains:
                sim.add("draft", "outcomes", start, avail)
        elif outcomes and block and sim.rounds > 0:  # outcome chains in the time the forward leaves
            chain_ms = policy.outcome_length() * p.draft_ms_per_token
            chains = min(block, max(0, int((t_fwd - p.channel_ms / 2 - d_end) / chain_ms)))
            if chains:
                sim.add("draft", "outcomes", d_end, chains * chain_ms)
    if ready > t_fwd:
        sim.add("target", "wait", t_fwd, ready - t_fwd)
    sim.t = sim.add("target", "sync", ready, p.sync_ms) + p.round_overhead_ms
    a = accept.chain(sim.made, block)
    policy.observe(min(block, a + 1), a)
    return _DuoRound(a, a == block and n >= 1 and accept.first(sim.made + block), chains, n, hit)


def expected_throughput(profile: LatencyProfile, method: str, alpha: float, budget: int | str = FROM_PARAMS,
                        runs: int = 40, *, params: SimParams | None = None, **overrides) -> float:
    """Mean tokens/s over `runs` seeded simulations (deterministic for given arguments), with
    seeds params.seed, params.seed + 1, ... (0, 1, ... by default); options as for `simulate`."""
    p = sim_params(params, budget, overrides)
    p.check(method, alpha)
    total_tokens = total_s = 0.0
    for i in range(runs):
        s = _run(profile, method, alpha, p, p.seed + i)[1]
        total_tokens += s["new_tokens"]
        total_s += s["wall_time_s"]
    return total_tokens / total_s
