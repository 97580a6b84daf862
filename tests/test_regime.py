"""The regime map's cells: duo's defaults and SpS, each at its best setting, on synthetic profiles."""

import pytest

from duolab.predict.regime import duo_over_sps, regime_point, synthetic_profile
from tests.test_budget import synthetic

BASE = synthetic(target_ms=8.0, slope=0.3, draft_ms=0.5, overhead=0.8, channel=0.1, sync=0.3)


def test_synthetic_profile_sits_where_it_was_asked_to():
    p = synthetic_profile(BASE, 0.2, 1.5)
    assert regime_point(p) == pytest.approx((0.2, 1.5))
    assert p.draft_overhead_ms == pytest.approx(0.8 * p.draft_ms_per_token / 0.5)  # scales with the draft step
    with pytest.raises(ValueError, match="cost_ratio"):
        synthetic_profile(BASE, 0.0, 1.5)


def test_a_draft_as_slow_as_the_target_leaves_both_methods_at_ar():
    # no budget pays: SpS's best setting is not to draft (budget 0), and duo drops its draft
    # rather than wait for it every round (it ran at 0.45x AR when it waited)
    cell = duo_over_sps(synthetic_profile(BASE, 1.0, 1.5), 0.8, runs=2)
    assert cell["sps_budget"] == 0 and cell["sps_speedup"] == 1.0
    assert 0.9 < cell["duo_speedup"] <= 1.0
    with pytest.raises(ValueError, match="schedule"):
        duo_over_sps(BASE, 0.8, schedule="fastest")


def test_in_the_band_duo_hides_the_drafting_sps_pays_for():
    cell = duo_over_sps(synthetic_profile(BASE, 0.2, 2.0), 0.95, runs=4)
    assert cell["sps_budget"] >= 1 and cell["duo_over_sps"] > 1.05
