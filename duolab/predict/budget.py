"""Choose the draft budget from measured latencies instead of by hand.

From a LatencyProfile and an acceptance estimate alpha (the chance that a draft token equals the
target's choice), predict tokens/s for AR, SpS and duo at every budget and take the best. The
paper's rule, the budget that makes draft and target time equal, is reported beside it.
Pure: nothing here measures; `duolab.measure.profiling` measures profiles and workloads
(`duolab.measure.profile_store` keeps one of each per pair); duo's decoder chooses per round
instead (duolab.methods.round_policy).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from duolab.latency_profile import LatencyProfile, Workload
from duolab.methods.round_policy import PAPER_SCHEDULE, expected_accepted
from duolab.predict.simulate import (
    FROM_PARAMS,
    SimParams,
    expected_throughput,
    sim_params,
    simulate,
)

BUDGETS = range(1, 33)


def as_workload(alpha: float | Workload, new_tokens: int | None = None, prompt_tokens: int | None = None) -> Workload:
    """`alpha` as a workload of one prompt (default shape: the simulator's, SimParams)."""
    if isinstance(alpha, Workload):
        return alpha
    new_tokens = SimParams.new_tokens if new_tokens is None else new_tokens
    prompt_tokens = SimParams.prompt_tokens if prompt_tokens is None else prompt_tokens
    return Workload(alpha, [(prompt_tokens, new_tokens)], new_tokens)


def predicted_tokens_per_s(profile: LatencyProfile, workload: float | Workload, method: str,
                           budget: int | str = FROM_PARAMS, runs: int = 20, *,
                           params: SimParams | None = None, **overrides) -> float:
    """Total new tokens / total predicted time over the workload's prompts. Options as for
    `simulate`; each prompt's shape, max_new_tokens and agreement (and for pld its lookups) come
    from the workload (`new_tokens` and `prompt_tokens` shape a workload given as alpha)."""
    p = sim_params(params, budget, overrides)
    w = as_workload(workload, p.new_tokens, p.prompt_tokens)
    tokens = seconds = 0.0
    for i, (prompt_tokens, new) in enumerate(w.shapes):
        replay = w.agreement[i] if w.agreement else None
        lookups = p.lookups
        if method == "pld" or p.retrieval:  # prompt lookup replays what it proposed on this prompt
            if not w.lookups:
                raise ValueError(f"predicting {'pld' if method == 'pld' else 'retrieval'} needs a workload "
                                 "with lookups (profiling.measure_workload)")
            lookups = w.lookups[i]
        shaped = replace(p, new_tokens=new, prompt_tokens=prompt_tokens, max_new_tokens=w.max_new_tokens,
                         agreement=replay, lookups=lookups)
        rate = expected_throughput(profile, method, w.alpha, runs=1 if replay else runs, params=shaped)
        tokens += new
        seconds += new / rate
    return tokens / seconds


def predict(profile: LatencyProfile, workload: float | Workload, methods=("ar", "sps", "duo"),
            budgets=BUDGETS, **kwargs) -> pd.DataFrame:
    """Predicted tokens/s per (method, budget); AR has one row (budget 0)."""
    rows = []
    for method in methods:
        for b in [0] if method == "ar" else budgets:
            rows.append({"method": method, "budget": b, "predicted_tokens_per_s":
                         predicted_tokens_per_s(profile, workload, method, max(b, 1), **kwargs)})
    return pd.DataFrame(rows)


def choose_budget(profile: LatencyProfile, workload: float | Workload, method: str = "duo",
                  budgets=BUDGETS, **kwargs) -> int:
    """The budget with the highest predicted tokens/s."""
    table = predict(profile, workload, [method], budgets, **kwargs)
    return int(table.loc[table.predicted_tokens_per_s.idxmax(), "budget"])


def equal_time_budget(profile: LatencyProfile, budgets=BUDGETS) -> int:
    """The paper's rule: the budget whose drafting time best matches the target's verification."""
    return min(budgets, key=lambda g: abs(profile.draft_ms(g) - profile.target_ms(g + 1)))


def equal_time_check(profile: LatencyProfile, budgets=BUDGETS) -> dict:
    """Whether the paper's rule has a solution here: drafting γ tokens (t_d per token plus a fixed
    cost per request) and verifying γ + 1 tokens must take equally long at some γ of `budgets`.
    Where drafting stays below verifying on the whole grid they never meet, and the rule falls
    back to the smallest gap, whatever the workload: near the grid's end when drafting grows
    faster per token than verifying (this CPU), at γ = 1 when verifying does."""
    b = list(budgets)
    gap = [profile.draft_ms(g) - profile.target_ms(g + 1) for g in b]
    slope = (profile.target_ms(b[-1] + 1) - profile.target_ms(b[0] + 1)) / (b[-1] - b[0])
    return {"budget": equal_time_budget(profile, b), "grid_end": b[-1],
            "has_solution": any(x <= 0 <= y or y <= 0 <= x for x, y in zip(gap, gap[1:], strict=False)),
            "t_d_ms": profile.draft_ms_per_token, "draft_fixed_ms": profile.draft_overhead_ms,
            "target_slope_ms": slope, "gap_ms": dict(zip(b, gap, strict=True))}


def schedule_bounds(profile: LatencyProfile, workload: float | Workload, outcome_hit: float | None = None) -> dict:
    """Simulated speedups over AR of SpS at its best budget (of BUDGETS), duo's defaults and the paper's schedule,
    on `workload` (its greedy agreement replayed exactly, when it has one), with the profile as
    measured and without overheads (`LatencyProfile.without_overheads`: perfect overlap, free
    channel, sync and bookkeeping). Both methods get the same acceptance pattern and the same
    idealization, so `duo / sps` at "free" is what duo's schedule can gain over SpS on this
    machine at best; `outcome_hit`: the share of rejections duo's outcome chains catch."""
    hit = {} if outcome_hit is None else {"outcome_hit": outcome_hit}
    out = {}
    for tag, p in (("measured", profile), ("free", profile.without_overheads())):
        ar = predicted_tokens_per_s(p, workload, "ar", 1)
        sps = {b: predicted_tokens_per_s(p, workload, "sps", b) for b in BUDGETS}
        best = max(sps, key=sps.get)
        duo = predicted_tokens_per_s(p, workload, "duo", "auto", **hit)
        paper = predicted_tokens_per_s(p, workload, "duo", **PAPER_SCHEDULE)
        out.update({f"sps best γ ({tag})": best, f"sps ({tag})": sps[best] / ar, f"duo ({tag})": duo / ar,
                    f"paper schedule ({tag})": paper / ar, f"duo / sps ({tag})": duo / sps[best]})
    return out


def idle_by_budget(profile: LatencyProfile, alpha: float, budgets, *, params: SimParams | None = None,
                   **overrides) -> pd.DataFrame:
    """Per budget, one simulated duo generation's idle shares of the wall time on each side
    (`idle_fraction_target`, `idle_fraction_draft`), the share the draft spends on catch-up chains
    (`catch_up_fraction`: the target waits at least that long for them) and the share of rounds that
    start with nothing to verify (`empty_start_fraction`). Options as for `simulate` (new_tokens,
    prompt_tokens, max_new_tokens, ...), the budget aside."""
    p = SimParams.of(params, **overrides)
    rows = []
    for b in budgets:
        sim = simulate(profile, "duo", alpha, params=replace(p, budget=b))
        catch_up = sim.trace[sim.trace.kind == "catch_up"]
        rows.append({"budget": b, "idle_fraction_target": sim.stats["idle_fraction_target"],
                     "idle_fraction_draft": sim.stats["idle_fraction_draft"],
                     "catch_up_fraction": float((catch_up.end_s - catch_up.start_s).sum()) / sim.stats["wall_time_s"],
                     "empty_start_fraction": sim.stats["empty_start_fraction"]})
    return pd.DataFrame(rows)


def sps_ideal_speedup(profile: LatencyProfile, alpha: float, cap: int = 64) -> tuple[float, int]:
    """SpS's best over AR with no overheads: a round drafts n tokens in process (n * t_d, on the
    target's core) and verifies them in T_t(n + 1). With `ideal_speedup`, the most duo could ever
    gain over SpS on a machine: the draft time it hides, and nothing else. Returns (speedup, n)."""
    def rate(n: int) -> float:
        return expected_accepted(alpha, n) / (n * profile.sps_draft_ms_per_token + profile.target_ms(n + 1))
    best = max(range(1, cap + 1), key=rate)
    return rate(best) * profile.target_ms(1), best


def ideal_speedup(profile: LatencyProfile, alpha: float, cap: int = 64) -> tuple[float, int]:
    """The best speedup over AR a draft/target pair with this profile and acceptance allows:
    drafting perfectly hidden behind verification, no overheads, never a round without a block.
    Every round then verifies n drafts in T_t(n + 1) and commits expected_accepted(alpha, n)
    tokens, against AR's one token per T_t(1). Returns (speedup, the n that reaches it)."""
    best = max(range(1, cap + 1), key=lambda n: expected_accepted(alpha, n) / profile.target_ms(n + 1))
    return expected_accepted(alpha, best) * profile.target_ms(1) / profile.target_ms(best + 1), best
