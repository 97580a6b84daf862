"""The outcome-cache model behind issue 28's gate: its drafting time, its plan, and the simulator
catching rejections (and missed bonus tokens) as the plan says."""

import pytest

from duolab.predict.outcome_cache import OutcomeCache
from duolab.predict.simulate import simulate
from tests.test_budget import synthetic


def test_batched_drafting_time_splits_the_branches_over_the_free_workers():
    one = OutcomeCache(1, 0.1, {1: 0.5})
    assert one.drafting_ms(8, 4, 1.0) == pytest.approx(4 * (1.0 + 7 * 0.1))
    three = OutcomeCache(3, 0.1, {1: 0.5})  # one drafts the next block: two share the 8 branches
    assert three.drafting_ms(8, 4, 1.0) == pytest.approx(4 * (1.0 + 3 * 0.1))
    with pytest.raises(ValueError, match="workers"):
        OutcomeCache(0, 0.1, {1: 0.5})


def test_the_plan_covers_what_fits_and_weighs_positions_against_guesses():
    cache = OutcomeCache(1, 0.0, {1: 0.2, 4: 0.5, 16: 0.9})  # free branches: only t_d * length counts
    assert cache.plan(5, 0.7, avail_ms=100.0, length=3, t_d_ms=1.0) == (5, 0.9)
    assert cache.plan(5, 0.7, avail_ms=2.0, length=3, t_d_ms=1.0) == (0, 0.0)  # not one chain fits
    costly = OutcomeCache(1, 1.0, {1: 0.3, 16: 0.4})  # each more branch costs a whole step
    # (c + 1) * F branches of 2 tokens: F = 16 fits no position; F = 1 fits c = 3 (4 branches, 8 ms)
    assert costly.plan(6, 0.5, avail_ms=8.0, length=2, t_d_ms=1.0) == (3, 0.3)


@pytest.mark.parametrize("coverage, caught", [(1.0, 1.0), (0.0, 0.0)])
def test_the_simulator_catches_what_the_cache_covers(coverage, caught):
    profile = synthetic(target_ms=10.0, slope=0.5, draft_ms=0.5)
    cache = OutcomeCache(15, 0.0, {4: coverage})
    s = simulate(profile, "duo", alpha=0.6, new_tokens=200, cache=cache).stats
    assert s["outcome_hit_rate"] == caught
    plain = simulate(profile, "duo", alpha=0.6, new_tokens=200).stats
    if caught:  # every rejection and missed bonus token has its block: fewer empty rounds
        assert s["empty_start_fraction"] < plain["empty_start_fraction"]
