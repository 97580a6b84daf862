"""The pure parts of the budget model: accepted-length formula, budget choice, simulator."""

import inspect
import random
from dataclasses import FrozenInstanceError, fields

import pytest

from duolab.latency_profile import LatencyProfile
from duolab.methods.round_policy import MAX_CATCH_UP, expected_accepted
from duolab.predict.budget import choose_budget, equal_time_budget, equal_time_check, predict
from duolab.predict.simulate import (
    FROM_PARAMS,
    SIM_PARAM_NAMES,
    SimParams,
    expected_throughput,
    simulate,
)


def synthetic(target_ms=10.0, slope=0.0, draft_ms=1.0, overhead=0.0, sps_draft_ms=None,
              channel=0.0, sync=0.0) -> LatencyProfile:
    return LatencyProfile(
        machine="synthetic", target="t", draft="d", target_device="cpu",
        target_forward_ms=[target_ms + slope * (n - 1) for n in range(1, 65)],
        prefill_ms={16: target_ms, 512: target_ms}, draft_ms_per_token=draft_ms,
        draft_overhead_ms=overhead, sps_draft_ms_per_token=sps_draft_ms or draft_ms,
        channel_ms=channel, sync_ms=sync)


@pytest.mark.parametrize("alpha, n", [(0.0, 3), (0.5, 2), (0.8, 5), (1.0, 4), (0.3, 0)])
def test_expected_accepted_matches_a_monte_carlo_chain(alpha, n):
    rng = random.Random(0)
    trials = 100_000
    total = 0
    for _ in range(trials):
        a = 0
        while a < n and rng.random() < alpha:
            a += 1
        total += a + 1
    assert expected_accepted(alpha, n) == pytest.approx(total / trials, rel=0.01)
    assert expected_accepted(0.5, 2) == pytest.approx(1.75)


def test_expected_accepted_rejects_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        expected_accepted(1.5, 2)


def test_budget_choice_on_synthetic_profiles_with_known_answers():
    flat = synthetic(target_ms=10.0, draft_ms=1.0)
    # every draft fails: drafting is pure cost, the smallest budget wins
    assert choose_budget(flat, 0.0, "sps", range(1, 17), runs=2, new_tokens=4080) == 1
    # every draft passes and verification costs the same for any n: the largest budget wins
    assert choose_budget(flat, 1.0, "sps", range(1, 17), runs=2, new_tokens=4080) == 16
    # duo (the paper's schedule) with every draft passing: each round commits `budget` tokens in
    # max(10 ms, budget ms), so 100 * budget tokens/s up to budget 10, then flat at 1000 (draft-bound)
    table = predict(flat, 1.0, ["duo"], range(1, 17), runs=1, new_tokens=4080, first_match=1.0,
                    catch_up=0, outcomes=False)
    rate = dict(zip(table.budget, table.predicted_tokens_per_s, strict=True))
    for b in range(1, 17):
        assert rate[b] == pytest.approx(100 * min(b, 10), rel=0.01)
    assert choose_budget(flat, 1.0, "duo", range(1, 17), runs=1, new_tokens=4080, first_match=1.0) >= 10
    # every draft failing: any budget the target hides is equally good; the smallest is taken
    assert choose_budget(flat, 0.0, "duo", range(1, 17), runs=2, new_tokens=4080, first_match=0.0) == 1
    assert equal_time_budget(flat, range(1, 33)) == 10


def test_equal_time_rule_says_when_it_has_no_solution():
    # drafting 1 ms/token against a flat 10 ms target: they meet at γ = 9 (T_t(10) = 10 ms)
    meets = equal_time_check(synthetic(target_ms=10.0, draft_ms=1.0), range(1, 25))
    assert meets["has_solution"] and meets["budget"] == 10 and meets["gap_ms"][10] == pytest.approx(0.0)
    # this CPU's shape: the target starts far higher; the draft grows faster per token (0.66 ms
    # against 0.4) but would catch up only at γ = 35, past the grid: no solution, the smallest gap
    # is at the grid's end
    never = equal_time_check(synthetic(target_ms=10.0, slope=0.4, draft_ms=0.66, overhead=0.84), range(1, 25))
    assert not never["has_solution"] and never["budget"] == never["grid_end"] == 24
    assert never["target_slope_ms"] == pytest.approx(0.4) and all(g < 0 for g in never["gap_ms"].values())
    # a target that grows faster per token than the draft: no solution either, the gap is smallest at γ = 1
    assert equal_time_check(synthetic(target_ms=10.0, slope=0.8, draft_ms=0.66), range(1, 25))["budget"] == 1


def test_sps_prediction_agrees_with_the_closed_form():
    p = synthetic(target_ms=10.0, slope=0.5, draft_ms=1.0, sync=0.2)
    alpha, gamma, n = 0.7, 4, 4000
    tokens_per_round = expected_accepted(alpha, gamma)
    round_ms = gamma * 1.0 + p.target_ms(gamma + 1) + 0.2
    predicted = expected_throughput(p, "sps", alpha, gamma, runs=5, new_tokens=n, prompt_tokens=16)
    assert predicted == pytest.approx(1000 * tokens_per_round / round_ms, rel=0.03)


@pytest.mark.parametrize("method, budget", [("ar", 1), ("sps", 4), ("duo", 6), ("duo", 1)])
def test_simulator_invariants(method, budget):
    p = synthetic(target_ms=8.0, slope=0.4, draft_ms=0.7, overhead=0.3, channel=0.05, sync=0.2)
    sim = simulate(p, method, alpha=0.7, budget=budget, new_tokens=100, seed=3)
    trace, s = sim.trace, sim.stats
    assert s["new_tokens"] == 100
    assert (trace.end_s >= trace.start_s).all()
    assert trace.end_s.max() <= s["wall_time_s"] + 1e-9
    for side in ("target", "draft"):  # no device does two things at once
        busy = trace[(trace.side == side) & (trace.kind != "wait")].sort_values("start_s")
        assert (busy.start_s.values[1:] >= busy.end_s.values[:-1] - 1e-12).all()
    # a duo round verifies a block of at most max(budget, catch-up, outcome chain) tokens
    most = {"ar": 0, "sps": budget, "duo": max(budget, MAX_CATCH_UP)}[method]
    assert 1.0 <= s["tau"] <= most + 1
    assert 0 <= s["idle_fraction_target"] <= 1
    if method == "sps":  # sequential: draft and target never overlap
        spans = trace.sort_values("start_s")
        assert (spans.start_s.values[1:] >= spans.end_s.values[:-1] - 1e-12).all()
    # deterministic for a seed
    assert simulate(p, method, 0.7, budget, new_tokens=100, seed=3).stats == s


def test_duo_hides_drafting_behind_verification():
    p = synthetic(target_ms=10.0, draft_ms=1.0)
    seq = predict(p, 1.0, ["sps"], [4], runs=2).predicted_tokens_per_s.iloc[0]
    par = predict(p, 1.0, ["duo"], [4], runs=2, first_match=1.0).predicted_tokens_per_s.iloc[0]
    assert par > seq


def test_profile_round_trips_through_json(tmp_path):
    p = synthetic(target_ms=5.0, slope=0.25)
    q = LatencyProfile.load(p.save(tmp_path / "p.json"))
    assert q == p
    assert q.target_ms(64) == pytest.approx(5.0 + 0.25 * 63)
    assert q.target_ms(80) == pytest.approx(5.0 + 0.25 * 79)  # linear extrapolation


def test_median_profile_takes_each_quantitys_median_and_refuses_other_pairs():
    slow, fast, odd = synthetic(12.0, 0.5, 1.0), synthetic(8.0, 0.25, 0.5), synthetic(9.0, 1.0, 3.0)
    odd.prefill_ms[64] = 1.0  # measured in one profile only: not in the median
    m = LatencyProfile.median([slow, fast, odd])
    assert m.target_ms(1) == 9.0 and m.target_ms(9) == 16.0  # per size: 16 (slow) of 10, 16, 17
    assert m.draft_ms_per_token == 1.0 and sorted(m.prefill_ms) == [16, 512]
    assert m.notes["median_of"] == 3
    assert LatencyProfile.median([slow, fast]).target_ms(1) == 10.0  # even count: mean of the middle two
    with pytest.raises(ValueError, match="at least one"):
        LatencyProfile.median([])
    other = synthetic()
    other.draft = "another-draft"
    with pytest.raises(ValueError, match="different pairs"):
        LatencyProfile.median([slow, other])


def test_simulate_rejects_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        simulate(synthetic(), "sps", alpha=1.2)
    with pytest.raises(ValueError, match="supports"):
        simulate(synthetic(), "hf", alpha=0.5)
    with pytest.raises(ValueError, match="needs lookups"):
        simulate(synthetic(), "pld", alpha=0.5)
    with pytest.raises(ValueError, match="budget"):
        simulate(synthetic(), "duo", alpha=0.5, budget=0)


def test_sim_params_hold_the_simulators_only_defaults():
    """SimParams is the one place the simulator's defaults are written: simulate and
    expected_throughput declare none of their own (budget's default means "from params"; runs is
    expected_throughput's own), and their other keywords are its fields."""
    names = {f.name for f in fields(SimParams)}
    assert names == set(SIM_PARAM_NAMES) and {"budget", "new_tokens", "seed", "outcome_hit", "lookups"} <= names
    for fn, own in ((simulate, {}), (expected_throughput, {"runs": 40})):
        sig = inspect.signature(fn)
        defaults = {n: p.default for n, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}
        assert defaults == {"budget": FROM_PARAMS, "params": None, **own}, fn.__name__
        assert sig.parameters["params"].kind is inspect.Parameter.KEYWORD_ONLY
        assert names & set(sig.parameters) == {"budget"}  # the others are keywords for SimParams
    p = synthetic()
    # params, keywords and a positional budget say the same thing
    by_kw = simulate(p, "duo", 0.7, budget=6, new_tokens=50, seed=2).stats
    assert simulate(p, "duo", 0.7, 6, new_tokens=50, seed=2).stats == by_kw
    assert simulate(p, "duo", 0.7, params=SimParams(budget=6, new_tokens=50, seed=2)).stats == by_kw
    assert simulate(p, "duo", 0.7, 6, params=SimParams(new_tokens=50), seed=2).stats == by_kw
    assert simulate(p, "sps", 0.7).stats == simulate(p, "sps", 0.7, params=SimParams()).stats
    assert SimParams.of(SimParams(budget=3), seed=5) == SimParams(budget=3, seed=5)
    # expected_throughput's runs take seeds params.seed, params.seed + 1, ...
    rate = expected_throughput(p, "sps", 0.7, 4, runs=3, new_tokens=40)
    assert rate == pytest.approx(3 * 40 / sum(simulate(p, "sps", 0.7, 4, new_tokens=40, seed=s).stats["wall_time_s"]
                                               for s in range(3)))
    assert expected_throughput(p, "sps", 0.7, 4, 3, new_tokens=40) == rate
    assert expected_throughput(p, "sps", 0.7, runs=2, params=SimParams(new_tokens=40, seed=1)) == pytest.approx(
        2 * 40 / sum(simulate(p, "sps", 0.7, 4, new_tokens=40, seed=s).stats["wall_time_s"] for s in (1, 2)))


def test_sim_params_reject_bad_and_unknown_options_with_the_simulators_messages():
    p = synthetic()
    with pytest.raises(ValueError, match=r"^budget must be an integer >= 1 or auto, got 0$"):
        simulate(p, "duo", 0.5, params=SimParams(budget=0))
    with pytest.raises(ValueError, match=r"^budget must be an integer >= 1, got 'auto'$"):
        expected_throughput(p, "sps", 0.5, "auto", runs=2)
    with pytest.raises(ValueError, match=r"^alpha must be in \[0, 1\], got 1.2$"):
        expected_throughput(p, "sps", 1.2, runs=2)
    with pytest.raises(ValueError, match=r"^simulating pld needs lookups"):
        simulate(p, "pld", 0.5, params=SimParams(budget=4))
    with pytest.raises(ValueError, match=r"^simulate supports 'ar', 'sps', 'pld' and 'duo', got 'hf'$"):
        simulate(p, "hf", 0.5)
    SimParams(budget=0).check("ar", 0.5)  # AR has no budget to check
    with pytest.raises(ValueError, match="unknown simulator option 'max_sequences'"):
        simulate(p, "duo", 0.5, max_sequences=1)
    with pytest.raises(ValueError, match="unknown simulator options 'bugdet', 'run'"):
        expected_throughput(p, "sps", 0.5, bugdet=3, run=2)
    with pytest.raises(FrozenInstanceError):
        SimParams().budget = 8  # type: ignore[misc]


PAPER = {"catch_up": 0, "outcomes": False}  # duo's schedule without the guessed parts


@pytest.mark.parametrize("method, options", [("sps", {"budget": 3}), ("sps", {"budget": 7}),
                                             ("duo", {"budget": 5, "max_sequences": 1, **PAPER}),
                                             ("duo", {"budget": 5, "max_sequences": 1, "catch_up": 3,
                                                      "outcomes": False})])
def test_replayed_acceptance_reproduces_real_rounds(toy_pair, method, options):
    """With the measured agreement, the simulator's rounds are exactly those of a real greedy run."""
    from duolab import generate
    from duolab.measure.profiling import measure_workload

    prompts = [f"def step{i}(self, batch):" for i in range(4)]
    w = measure_workload(toy_pair, prompts, max_new_tokens=40)
    for prompt, (prompt_tokens, new), agreement in zip(prompts, w.shapes, w.agreement, strict=True):
        real = generate(toy_pair, prompt, method=method, max_new_tokens=40, **options).stats
        sim_options = {k: v for k, v in options.items() if k in ("catch_up", "outcomes")}
        sim = simulate(synthetic(), method, w.alpha, options["budget"], new_tokens=new,
                       prompt_tokens=prompt_tokens, max_new_tokens=40, agreement=agreement,
                       **sim_options).stats
        assert real["new_tokens"] == new
        assert sim["target_forwards"] == real["target_forwards"], prompt


def test_a_profile_keeps_the_branch_step_curve_and_its_marginal_cost(tmp_path):
    """t_m is the slope of a batched draft step against its branches; old profiles have none."""
    p = synthetic()
    assert p.draft_branch_ms == [] and p.branch_marginal_ms() is None
    p.draft_branch_ms = [0.6 + 0.05 * (b - 1) for b in range(1, 17)]
    q = LatencyProfile.load(p.save(tmp_path / "p.json"))
    assert q == p and q.branch_marginal_ms() == pytest.approx(0.05)
    other = synthetic()
    other.draft_branch_ms = [1.0] * 8  # fewer sizes: the median keeps the sizes both measured
    m = LatencyProfile.median([p, other, p])
    assert m.draft_branch_ms == pytest.approx(p.draft_branch_ms[:8])
