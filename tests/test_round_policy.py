"""duo's per-round decisions (pure) and the simulator's model of the new schedules."""

import random

import pytest

from duolab.latency_profile import Workload
from duolab.methods.round_policy import (
    RoundPolicy,
    catch_up_length,
    expected_accepted,
    rank_outcomes,
    round_budget,
)
from duolab.predict.budget import (
    BUDGETS,
    ideal_speedup,
    predicted_tokens_per_s,
    schedule_bounds,
    sps_ideal_speedup,
)
from duolab.predict.simulate import simulate
from tests.test_budget import synthetic

GPU_LIKE = dict(target_ms=8.5, slope=0.0, draft_ms=0.41, overhead=0.2, channel=0.1, sync=0.2)
CPU_LIKE = dict(target_ms=7.8, slope=0.35, draft_ms=0.55, overhead=0.2, channel=0.1, sync=0.2)


def test_catch_up_pays_only_when_the_draft_is_much_faster():
    assert catch_up_length(synthetic(**GPU_LIKE), 0.7) >= 4
    assert catch_up_length(synthetic(**CPU_LIKE), 0.7) >= 2
    # a draft as slow as the target: waiting for it never beats verifying the empty block
    assert catch_up_length(synthetic(target_ms=5.0, draft_ms=5.0), 0.7) == 0
    # drafts that never pass are not worth waiting for
    assert catch_up_length(synthetic(**GPU_LIKE), 0.0) == 0


def test_round_budget_fits_the_forward_and_the_acceptance():
    flat = synthetic(target_ms=10.0, draft_ms=1.0)
    for alpha in (0.3, 0.6, 0.9, 0.99):
        assert 1 <= round_budget(flat, alpha, 1) <= 10  # 10 draft steps fit in one 10 ms forward
    assert round_budget(flat, 0.99, 1) == 10
    assert round_budget(flat, 0.3, 1) <= 3  # 0.3^3 < 0.05: a fourth token is rarely reached
    # a costly draft (two steps fit in a forward): a third pays for its wait only when likely to pass
    costly = synthetic(target_ms=10.0, draft_ms=4.0)
    assert round_budget(costly, 0.9, 1) == 3  # 2 ms of wait for a block of 2 instead of 1
    assert round_budget(costly, 0.5, 1) == 2
    steep = synthetic(target_ms=2.0, slope=1.0, draft_ms=0.1)  # verifying more costs more
    assert round_budget(steep, 0.6, 1) < round_budget(synthetic(target_ms=2.0, draft_ms=0.1), 0.6, 1)


def test_round_budget_drafts_the_guess_of_the_targets_token_plus_the_best_block():
    # a tree's first token guesses the target's next token; the block verified next is the rest.
    # With a cheap draft and near-certain use, that block is the best verify length on its own.
    steep = synthetic(target_ms=2.0, slope=0.5, draft_ms=0.01)
    for alpha in (0.9, 0.95, 0.99):
        assert round_budget(steep, alpha, 1) == ideal_speedup(steep, alpha)[1] + 1


def test_a_draft_slower_than_the_target_is_not_waited_for():
    slow = synthetic(target_ms=5.0, draft_ms=8.0)  # one draft token outlasts a forward
    for alpha in (0.5, 0.9):
        assert round_budget(slow, alpha, 1) == 0
        duo = simulate(slow, "duo", alpha, "auto", new_tokens=64).stats
        ar = simulate(slow, "ar", alpha, new_tokens=64).stats
        assert duo["tokens_per_s"] > 0.95 * ar["tokens_per_s"]  # waiting on it ran at 0.45x AR
    # a draft that fits in the forward is never dropped, however low alpha
    assert round_budget(synthetic(target_ms=10.0, slope=0.5, draft_ms=0.5), 0.05, 1) >= 1


def test_outcomes_are_ranked_by_the_drafts_own_probabilities():
    probs = [0.9, 0.5, 0.8]
    alternatives = [[(5, 0.05), (8, 0.03)], [(6, 0.4), (9, 0.1)], [(7, 0.1)]]
    # scores: 1 * 0.05, 0.03; 0.9 * 0.4 = 0.36, 0.09; 0.9 * 0.5 * 0.1 = 0.045
    assert rank_outcomes(probs, alternatives, start=10) == [(11, 6), (11, 9), (10, 5), (12, 7), (10, 8)]
    assert rank_outcomes(probs, alternatives, start=10, limit=1) == [(11, 6)]
    assert rank_outcomes([], [], start=3) == []


def test_running_alpha_starts_at_the_prior_and_follows_what_is_seen():
    policy = RoundPolicy(synthetic(), prior_alpha=0.6)
    assert policy.alpha == pytest.approx(0.6)
    policy.observe(100, 90)
    assert 0.85 < policy.alpha < 0.9
    fixed = RoundPolicy(None, 0.5, budget=5, catch_up=2)
    assert fixed.draft_budget(3) == 5 and fixed.catch_up_tokens() == 2 and fixed.deadline_ms(3) == 0.0


def test_ideal_speedup_has_known_answers():
    flat = synthetic(target_ms=10.0)
    assert ideal_speedup(flat, 1.0, cap=16) == (pytest.approx(17.0), 16)
    assert ideal_speedup(flat, 0.0)[0] == pytest.approx(1.0)
    alpha = 0.7
    speedup, n = ideal_speedup(synthetic(**CPU_LIKE), alpha)
    p = synthetic(**CPU_LIKE)
    assert speedup == pytest.approx(expected_accepted(alpha, n) * p.target_ms(1) / p.target_ms(n + 1))


def test_duo_ceiling_over_sps_is_the_draft_time_it_hides():
    # free drafting: SpS's best is duo's never-empty best
    free = synthetic(target_ms=10.0, slope=0.5, draft_ms=0.0)
    assert sps_ideal_speedup(free, 0.7) == pytest.approx(ideal_speedup(free, 0.7))
    # flat T_t, t_d = 1 ms, alpha = 1, cap 4: SpS commits 5 tokens in 4 + 10 ms, duo in 10 ms
    flat = synthetic(target_ms=10.0, draft_ms=1.0)
    assert sps_ideal_speedup(flat, 1.0, cap=4) == (pytest.approx(5 * 10 / 14), 4)
    assert ideal_speedup(flat, 1.0, cap=4)[0] / sps_ideal_speedup(flat, 1.0, cap=4)[0] == pytest.approx(1.4)


def test_simulated_rounds_pay_the_profiles_bookkeeping_and_not_without_overheads():
    p = synthetic(**CPU_LIKE)
    p.round_overhead_ms = 0.5
    agreement = [i % 3 != 2 for i in range(200)]  # a replayed acceptance: same rounds either way
    kw = dict(new_tokens=150, agreement=agreement)
    sps = simulate(p, "sps", 0.7, 4, **kw).stats
    sps_free = simulate(p.without_overheads(), "sps", 0.7, 4, **kw).stats
    cut = p.sync_ms + p.round_overhead_ms  # SpS's only overheads per round
    assert sps["wall_time_s"] - sps_free["wall_time_s"] == pytest.approx(sps["rounds"] * cut / 1000)
    duo = simulate(p, "duo", 0.7, "auto", **kw).stats
    assert simulate(p.without_overheads(), "duo", 0.7, "auto", **kw).stats["tokens_per_s"] > duo["tokens_per_s"]


@pytest.mark.parametrize("regime", [GPU_LIKE, CPU_LIKE], ids=["gpu-like", "cpu-like"])
def test_simulated_outcome_chains_and_catch_up_remove_empty_rounds(regime):
    p = synthetic(**regime)
    kw = dict(new_tokens=400, seed=1)
    paper = simulate(p, "duo", 0.65, 8, catch_up=0, outcomes=False, **kw).stats
    caught = simulate(p, "duo", 0.65, 8, catch_up=0, outcomes=True, outcome_hit=1.0, **kw).stats
    never = simulate(p, "duo", 0.65, 8, catch_up=0, outcomes=True, outcome_hit=0.0, **kw).stats
    default = simulate(p, "duo", 0.65, "auto", **kw).stats
    assert never["outcome_hit_rate"] == 0 and caught["outcome_hit_rate"] > 0.3
    assert caught["empty_start_fraction"] < paper["empty_start_fraction"]
    assert caught["tokens_per_s"] > paper["tokens_per_s"]
    assert default["tokens_per_s"] > paper["tokens_per_s"]
    trace = simulate(p, "duo", 0.65, 8, catch_up=0, outcomes=True, outcome_hit=1.0, **kw).trace
    for side in ("target", "draft"):  # outcome chains never overlap the draft's other work
        busy = trace[(trace.side == side) & (trace.kind != "wait")].sort_values("start_s")
        assert (busy.start_s.values[1:] >= busy.end_s.values[:-1] - 1e-12).all()


def test_schedule_bounds_compare_sps_and_duo_on_the_same_acceptance():
    rng = random.Random(0)
    agreement = [rng.random() < 0.75 for _ in range(200)]  # one replayed acceptance for both methods
    work = Workload(sum(agreement) / 200, [(64, 150)], 150, [agreement])
    p = synthetic(**CPU_LIKE)
    b = schedule_bounds(p, work, outcome_hit=0.25)
    assert b["sps best γ (free)"] in BUDGETS
    for tag in ("measured", "free"):
        assert b[f"duo / sps ({tag})"] == pytest.approx(b[f"duo ({tag})"] / b[f"sps ({tag})"])
    free = p.without_overheads()
    ar = predicted_tokens_per_s(free, work, "ar", 1)
    for g in BUDGETS:  # the reported SpS is its best budget, on the same replayed acceptance
        assert predicted_tokens_per_s(free, work, "sps", g) / ar <= b["sps (free)"] + 1e-9
    assert b["sps (free)"] >= b["sps (measured)"] and b["duo (free)"] > b["duo (measured)"]
    # where drafting is nearly free there is nothing for duo to hide; where it costs a quarter of a
    # flat target step, hiding it pays
    cheap = schedule_bounds(synthetic(**{**CPU_LIKE, "draft_ms": 0.01}), work, 0.25)["duo / sps (free)"]
    costly = schedule_bounds(synthetic(**{**GPU_LIKE, "draft_ms": 2.0}), work, 0.25)["duo / sps (free)"]
    assert cheap < 1.05 and costly > 1.1
