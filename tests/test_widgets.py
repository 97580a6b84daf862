"""Each widget: construct it, drive its controls programmatically, check the redraw changed.
The draft-tree figure: which rounds it picks, and how it labels tokens."""

import math
from types import SimpleNamespace

import matplotlib
import pandas as pd
import pytest

from duolab import generate
from duolab.lab.draft_trees import (
    SPECIAL_COLOR,
    TokenLabeler,
    describe_round,
    draw_draft_trees,
    teaching_rounds,
    tree_outcome,
)
from duolab.lab.explorable import CHALLENGES, THIS_MACHINE, challenge_checks
from duolab.lab.plots import (
    TIMELINE_COLORS,
    TIMELINE_LEGEND,
    plot_timelines,
    round_table,
    timeline_handles,
)
from duolab.lab.verified_trees import draw_verified_tree, retrieval_round, verified_rows
from duolab.lab.widgets import (
    SWEEP_CHALLENGE,
    DecodingSweep,
    RegimeExplorer,
    TreeExplorer,
    picks_later_sequence,
)
from duolab.latency_profile import LatencyProfile
from duolab.methods.drafting import Chain, DraftTree
from duolab.methods.duo import Block, DraftRound
from duolab.paths import REPO_DIR
from duolab.predict import regime

matplotlib.use("Agg")


def test_tree_explorer_redraws_on_round_change(toy_pair):
    g = generate(toy_pair, "def step(self, batch):", method="duo", budget=6, max_new_tokens=40)
    explorer = TreeExplorer(g, toy_pair.tokenizer)
    assert explorer.round.max == len(g.details["draft_trees"]) - 1 >= 2
    assert explorer.round.style.description_width == "initial"
    seen = {explorer.summary}
    for r in range(1, explorer.round.max + 1):
        explorer.round.value = r
        assert explorer.summary.startswith(f"round {r}:")
        assert describe_round(g.details["draft_trees"], r, toy_pair.tokenizer) in explorer.summary
        seen.add(explorer.summary)
    assert len(seen) == explorer.round.max + 1
    trees = g.details["draft_trees"]
    judged_later = [r for r, rec in enumerate(trees)
                    if rec.accepted == len(rec.verified) and (rec.chosen or 0) >= 1]
    assert explorer.challenge_rounds == judged_later
    assert explorer.challenge_met == bool(judged_later)  # every round was shown


def test_tree_explorer_needs_a_duo_generation(toy_pair):
    g = generate(toy_pair, "def step(self, batch):", method="ar", max_new_tokens=8)
    with pytest.raises(ValueError, match="method='duo'"):
        TreeExplorer(g, toy_pair.tokenizer.decode)


def test_decoding_sweep_reruns_on_every_control(toy_pair):
    sweep = DecodingSweep(toy_pair, max_new_tokens=16)
    assert list(sweep.results.index) == ["sps", "duo"]
    assert (sweep.results.budget == 8).all()
    assert all(c.style.description_width == "initial"
               for c in (sweep.budget, sweep.k, sweep.temperature, sweep.task))
    sweep.budget.value = 3
    assert (sweep.results.budget == 3).all()
    before = sweep.results.copy()
    sweep.task.value = "humaneval"
    assert sweep.results.ttft_s.tolist() != before.ttft_s.tolist()
    sweep.k.value = 1
    assert sweep.results.loc["duo", "mean_k"] == 1.0
    sweep.temperature.value = 1.0
    assert sweep.results.new_tokens.sum() > 0
    duo_slower = sweep.results.tokens_per_s["duo"] < sweep.results.tokens_per_s["sps"]
    assert ("✓ duo is slower than SpS at γ=3 on humaneval" in sweep.status.value) == duo_slower
    assert sweep.challenge_met or not duo_slower


# ---- the draft-tree figure on hand-made records (duo's DraftRound) -----------------

def _rec(r, verified, accepted, token, chosen, sequences):
    tree = DraftTree([Chain(s, [0.5] * len(s), [[] for _ in s]) for s in sequences],
                     [(s[0], 0.5) for s in sequences], 0.3)
    block = Block(verified, [0.5] * len(verified), [[] for _ in verified], 10 + r - len(verified), source="tree")
    return DraftRound(r, 10 + r, block, accepted, token, chosen, sum(map(len, sequences)), tree, None)


TREES = [
    _rec(0, [], 0, 10, 0, [[10]]),                                   # first round: one token
    _rec(1, [], 0, 21, 1, [[11, 12, 13], [21, 22, 23]]),             # k=2, the alternative chosen
    _rec(2, [22, 23], 2, 31, 0, [[31, 32, 33, 34]]),                 # r1's tail passes in full
    _rec(3, [32, 33, 34], 1, 40, None, [[50, 51], [52, 53], [54]]),  # r2's tail: 1 passes, then 40
    _rec(4, [], 0, 60, 0, [[60, 61]]),                               # (r3 was discarded: k=3 unjudged)
    _rec(5, [61], 1, 71, None, [[70]]),                              # r4's tail passes; 71 matches nothing
]
WORDS = {10: " the", 11: "supercalifragilistic", 12: "\n  ", 1: "</s>", 0: "<s>"}


def _decode(ids):
    return "".join(WORDS.get(i, f"w{i}") for i in ids)


def test_teaching_rounds_pick_branching_partial_and_continuing():
    picks = teaching_rounds(TREES)
    assert picks["branching"] == 1  # k > 1 and judged; never the discarded k = 3 round
    assert len(TREES[picks["branching"]].sequences) > 1
    partial = tree_outcome(TREES, picks["partial"])
    assert picks["partial"] == 2 and partial.tail_accepted == 1
    assert (partial.correction, partial.correction_at) == (40, 2)
    assert partial.status[0] == ["accepted", "accepted", "rejected", "unverified"]
    cont = tree_outcome(TREES, picks["continues"])
    assert picks["continues"] == 4  # r1 continues too, but it already shows branching
    assert cont.correction is None and cont.tail_accepted == len(cont.sequences[cont.chosen]) - 1 >= 1
    assert TREES[picks["continues"] + 1].verified.tokens == cont.sequences[cont.chosen].tokens[1:]
    assert 3 not in picks.values() and 5 not in picks.values()  # discarded / all rejected


def test_teaching_rounds_leave_out_what_no_round_shows():
    chain_only = [_rec(0, [], 0, 10, 0, [[10]]), _rec(1, [], 0, 5, None, [[11, 12]]),
                  _rec(2, [], 0, 13, 0, [[13, 14, 15]]), _rec(3, [14, 15], 2, 16, 0, [[16]])]
    assert teaching_rounds(chain_only) == {"continues": 2}  # no k > 1, no correction
    assert teaching_rounds([_rec(0, [], 0, 10, None, [[11], [12]])]) == {}


def test_teaching_rounds_prefer_rounds_before_eos(toy_pair):
    eos = toy_pair.tokenizer.eos_token_id
    trees = [_rec(0, [], 0, 10, 0, [[10, eos, 12]]), _rec(1, [eos, 12], 1, 9, None, [[20]]),
             _rec(2, [], 0, 30, 0, [[30, 31, 32]]), _rec(3, [31, 32], 1, 8, None, [[40]])]
    assert teaching_rounds(trees)["partial"] == 0
    assert teaching_rounds(trees, toy_pair.tokenizer)["partial"] == 2


def test_token_labels_are_whole_tokens_with_specials_marked(toy_pair):
    label = TokenLabeler(_decode)
    assert label(11).text == "supercalifragilistic" and not label(11).special
    assert label(10).text == "␣the" and label(12).text == "↵␣␣"
    assert (label(1).text, label(1).special) == ("⟨eos⟩", True)
    assert (label(0).text, label(0).special) == ("⟨bos⟩", True)
    tok = toy_pair.tokenizer
    for tokens in (tok, tok.decode):  # a bound decode is traced back to its tokenizer
        by_id = TokenLabeler(tokens)
        assert by_id(tok.eos_token_id) == by_id(tok.eos_token_id).__class__("⟨eos⟩", True)
        assert by_id(tok.bos_token_id).text == "⟨bos⟩"
        long = max(range(5, 200), key=lambda i: len(tok.decode([i])))
        assert by_id(long).text.replace("␣", " ").replace("↵", "\n") == tok.decode([long])


def test_draft_tree_figure_shows_whole_tokens_and_marks_specials():
    trees = list(TREES)
    trees[1] = _rec(1, [], 0, 11, 0, [[11, 12, 40, 0], [21, 1, 23]])
    trees[2] = _rec(2, [12, 40, 0], 1, 1, None, [[31]])
    fig = draw_draft_trees(trees, {"branching": 1, "continues": 4}, _decode)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "supercalifragilistic" in texts and "↵␣␣" in texts
    specials = [t for ax in fig.axes for t in ax.texts if t.get_text() in ("⟨eos⟩", "⟨bos⟩")]
    assert len(specials) == 2 and all(t.get_color() == SPECIAL_COLOR for t in specials)
    assert not any(t in texts for t in ("</s>", "<s>"))
    assert "target: ⟨eos⟩" in texts  # round 2 rejected r1's w40: the target's token there is EOS
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0].startswith("round 1") and "branching" in titles[0]
    assert "continues" in titles[1]
    matplotlib.pyplot.close(fig)


def test_timelines_share_one_colour_map_and_a_legend_with_every_kind():
    import pandas as pd

    sps = pd.DataFrame([("draft", "draft", 0.0, 0.1, 0), ("target", "verify", 0.1, 0.3, 0),
                        ("target", "sync", 0.3, 0.31, 0)], columns=["side", "kind", "start_s", "end_s", "round"])
    duo = pd.DataFrame([("target", "forward", 0.0, 0.2, 0), ("draft", "catch_up", 0.0, 0.1, 0),
                        ("target", "wait", 0.2, 0.25, 0)], columns=sps.columns)
    fig = plot_timelines({"sps": sps, "duo": duo})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:len(TIMELINE_LEGEND)] == list(TIMELINE_LEGEND) and "catch-up" in labels
    colours = {h.get_label(): h.get_facecolor() for h in timeline_handles(["catch_up"])}
    assert colours["draft"] == matplotlib.colors.to_rgba(TIMELINE_COLORS["draft"])
    matplotlib.pyplot.close(fig)


def test_round_table_rounds_numbers_only():
    import pandas as pd

    s = round_table(pd.Series({"tokens_per_s": 12.345678, "k_per_round": [1, 2], "method": "duo", "n": 7}))
    assert s["tokens_per_s"] == 12.346 and s["k_per_round"] == [1, 2] and s["n"] == 7


# ---- the widgets' guided challenges -------------------------------------------------------------

def test_tree_challenge_is_met_in_a_round_where_the_target_picks_a_later_sequence():
    trees = [*TREES, _rec(6, [], 0, 81, 1, [[80], [81]]), _rec(7, [90, 91], 0, 92, 2, [[1], [2], [92]])]
    assert [picks_later_sequence(trees, r) for r in range(len(trees))] == [None, 2, None, None, None,
                                                                           None, 2, None]
    explorer = TreeExplorer(SimpleNamespace(details={"draft_trees": trees}), _decode)
    assert explorer.challenge_rounds == [1, 6]  # round 7 picks sequence 3, but it was discarded
    assert not explorer.challenge_met and "not round 0: 2 round(s)" in explorer.status.value
    explorer.round.value = 7
    assert not explorer.challenge_met
    explorer.round.value = 1
    assert explorer.challenge_met and explorer.met_at == 1
    assert "✓ met: in round 1 the target picks sequence 2 of 2" in explorer.status.value
    explorer.round.value = 2
    assert explorer.challenge_met and "✓ met in round 1; not round 2" in explorer.status.value
    assert "Challenge" in explorer.challenge.value and explorer.status in explorer.widget.children


def test_tree_challenge_says_when_no_round_has_it():
    chain_only = [_rec(0, [], 0, 10, 0, [[10]]), _rec(1, [], 0, 13, 0, [[13, 14], [20]]),
                  _rec(2, [14], 1, 16, None, [[16]])]
    explorer = TreeExplorer(SimpleNamespace(details={"draft_trees": chain_only}), _decode)
    for r in range(3):
        explorer.round.value = r
        assert not explorer.challenge_met
        assert "no round of this generation has the target pick the second sequence" in explorer.status.value


def _fake_generate(pair, prompt, method, budget, max_new_tokens, temperature, seed, max_sequences=1):
    """sps at 50 tokens/s; duo at 80 - 5γ: faster than sps below γ = 6, slower above."""
    rate = 50.0 if method == "sps" else 80.0 - 5 * budget
    trace = pd.DataFrame([("target", "forward", 0.0, 0.1, 0)], columns=["side", "kind", "start_s", "end_s", "round"])
    stats = {"budget": budget, "new_tokens": 8, "tokens_per_s": rate, "tau": 2.0, "ttft_s": 0.01,
             "mean_k": float(max_sequences)}
    return SimpleNamespace(stats=stats, trace=trace)


def test_sweep_challenge_is_met_once_the_learner_finds_duo_slower(monkeypatch):
    monkeypatch.setattr("duolab.lab.widgets.generate", _fake_generate)
    sweep = DecodingSweep(pair=None, max_new_tokens=8)  # γ = 8: duo is slower, but nothing moved yet
    assert not sweep.challenge_met and "starting setting, which does not count" in sweep.status.value
    assert SWEEP_CHALLENGE in sweep.challenge.value
    sweep.budget.value = 2
    assert not sweep.challenge_met and sweep.status.value.endswith("not yet: duo 70 vs SpS 50 tokens/s at γ=2 on math_reasoning")
    sweep.budget.value = 12
    assert sweep.challenge_met and sweep.met_at["budget"] == 12
    assert "✓ duo is slower than SpS at γ=12 on math_reasoning (20 vs 50 tokens/s)" in sweep.status.value
    sweep.budget.value = 3
    assert sweep.challenge_met and "✓ met at γ=12 on math_reasoning; here: duo 65 vs SpS 50" in sweep.status.value


# ---- the regime explorable ------------------------------------------------------------------------

PROFILES = REPO_DIR / "data" / "profiles"
FAST = {"runs": 2, "new_tokens": 64}  # the explorer's redraw: a few ms of simulation


@pytest.fixture(scope="module")
def cpu_profile():
    return LatencyProfile.load(PROFILES / "cpu-2core.json")


@pytest.fixture(scope="module")
def h100_profile():
    return LatencyProfile.load(PROFILES / "h100-fp32.json")


def _expected(base, cost_ratio, slope, alpha):
    return regime.duo_over_sps(regime.synthetic_profile(base, cost_ratio, slope), alpha, **FAST)


def _assert_sliders_at(explorer, cost_ratio, slope):
    """Within half a step of each (the sliders keep to their steps, as a browser's would)."""
    assert abs(math.log10(explorer.cost_ratio.value / cost_ratio)) <= explorer.cost_ratio.step / 2
    assert abs(explorer.slope.value - slope) <= explorer.slope.step / 2


def _assert_result_is(explorer, base):
    r = explorer.result
    assert {k: r[k] for k in ("cost_ratio", "slope", "alpha")} == {
        "cost_ratio": explorer.cost_ratio.value, "slope": explorer.slope.value, "alpha": explorer.alpha.value}
    expected = _expected(base, r["cost_ratio"], r["slope"], r["alpha"])
    assert {k: r[k] for k in expected} == expected


def test_regime_explorer_recomputes_on_every_slider(cpu_profile):
    explorer = RegimeExplorer(cpu_profile, alpha=0.7, **FAST)
    _assert_sliders_at(explorer, *regime.regime_point(cpu_profile))
    steps = (math.log10(explorer.cost_ratio.value) - explorer.cost_ratio.min) / explorer.cost_ratio.step
    assert steps == pytest.approx(round(steps))  # on the slider's steps: no browser snaps it
    assert [c.description for c in (explorer.cost_ratio, explorer.slope, explorer.alpha)] == [
        "t_d / T_t(1)", "slope T_t(9)/T_t(1)", "α"]
    assert explorer.profile_button.description == "profile this machine"
    assert explorer.profile_button.disabled  # neither pair nor profiler: nothing to measure with
    _assert_result_is(explorer, cpu_profile)
    seen = [explorer.result["duo_over_sps"]]
    for control, value in ((explorer.cost_ratio, 0.3), (explorer.slope, 2.5), (explorer.alpha, 0.95)):
        before = dict(explorer.result)
        control.value = value
        assert explorer.result != before
        _assert_result_is(explorer, cpu_profile)
        seen.append(explorer.result["duo_over_sps"])
        assert explorer.redraw_s < 2.0
    assert len(set(seen)) == len(seen)
    r = explorer.result
    assert f"duo <b>{r['duo_speedup']:.2f}x</b>" in explorer.readout.value
    assert f"SpS's best γ = {r['sps_budget']}" in explorer.readout.value
    assert explorer.plotted == ["here"]


def test_regime_explorer_profile_button_moves_the_sliders_to_this_machine(cpu_profile, h100_profile):
    calls = []

    def profiler():
        calls.append(1)
        return h100_profile

    explorer = RegimeExplorer(cpu_profile, points={"cpu-2core": cpu_profile}, profiler=profiler,
                              alpha=0.9, **FAST)
    assert not explorer.profile_button.disabled and explorer.plotted == ["cpu-2core", "here"]
    explorer.profile_button.click()
    assert calls == [1] and explorer.machine_profile is h100_profile
    ratio, slope = regime.regime_point(h100_profile)
    _assert_sliders_at(explorer, ratio, slope)
    assert explorer.alpha.value == 0.9
    assert explorer.points[THIS_MACHINE] == (ratio, slope)
    assert explorer.plotted == ["cpu-2core", THIS_MACHINE, "here"]
    assert f"{THIS_MACHINE} (measured): t_d/T_t(1) = {ratio:.3f}, slope {slope:.2f}" in explorer.readout.value
    _assert_result_is(explorer, cpu_profile)
    assert not explorer.profile_button.disabled


def test_regime_explorer_reports_a_failed_profiler_on_its_status_line(cpu_profile):
    explorer = RegimeExplorer(cpu_profile, profiler=lambda: "not a profile", **FAST)
    before = (explorer.cost_ratio.value, explorer.slope.value)
    explorer.profile_button.click()
    assert "profiling failed" in explorer.status.value and "LatencyProfile" in explorer.status.value
    assert (explorer.cost_ratio.value, explorer.slope.value) == before and THIS_MACHINE not in explorer.points


def _settings_where(base, predicate):
    """The first setting (cost ratio, slope, alpha) of a small grid on the sliders' steps whose
    duo_over_sps meets `predicate`."""
    for alpha in (0.95, 0.85, 0.6):
        for ratio in (10 ** e for e in (-0.7, -1.0, -0.46, -1.3, -0.22)):  # ~0.2, 0.1, 0.35, 0.05, 0.6
            for slope in (2.0, 1.5, 2.5, 1.0):
                if predicate(_expected(base, ratio, slope, alpha)["duo_over_sps"], alpha):
                    return ratio, slope, alpha
    raise AssertionError("no grid setting meets the predicate")


def test_regime_challenges_are_met_where_duo_over_sps_says(cpu_profile):
    win = _settings_where(cpu_profile, lambda r, a: r >= 1.10)
    lose = _settings_where(cpu_profile, lambda r, a: r < 1.0 and a >= 0.8)
    neither = _settings_where(cpu_profile, lambda r, a: 1.0 <= r < 1.10 or (r < 1.0 and a < 0.8))
    explorer = RegimeExplorer(cpu_profile, alpha=0.8, **FAST)
    assert explorer.challenges == dict.fromkeys(CHALLENGES, False)  # the start never counts
    assert explorer.at_start() and "move a slider" in explorer.status.value
    explorer.cost_ratio.value *= 10 ** 0.009  # what a browser's snapping could send back: no move
    assert explorer.at_start() and explorer.challenges == dict.fromkeys(CHALLENGES, False)
    explorer.move_to(*neither)
    assert explorer.challenges == dict.fromkeys(CHALLENGES, False)
    assert explorer.status.value.count("not yet") == 2
    explorer.move_to(*win)
    assert challenge_checks(explorer.result)["duo_wins_by_10pct"]
    assert explorer.challenges == {"duo_wins_by_10pct": True, "duo_loses_at_high_alpha": False}
    assert "1. ✓ met at t_d/T_t(1) = " in explorer.status.value and "2. not yet" in explorer.status.value
    explorer.cost_ratio.value, explorer.slope.value, explorer.alpha.value = lose  # three redraws
    assert explorer.result["duo_over_sps"] == _expected(cpu_profile, *lose)["duo_over_sps"] < 1.0
    assert all(explorer.challenges.values()) and "2. ✓ met" in explorer.status.value
    assert explorer.met_at["duo_wins_by_10pct"]["duo_over_sps"] >= 1.10  # met stays met


def test_regime_explorer_draws_the_map_at_the_nearest_alpha(cpu_profile):
    table = regime.regime_map(cpu_profile, [0.6, 0.9], [0.05, 0.3], [1.0, 2.0], runs=1, progress=False)
    points = pd.DataFrame([{"label": "x", "cost_ratio": 0.1, "slope": 1.5}])
    explorer = RegimeExplorer(cpu_profile, table=table, points=points, alpha=0.7, **FAST)
    assert explorer.map_alpha == 0.6 and explorer.points == {"x": (0.1, 1.5)}
    explorer.alpha.value = 0.8
    assert explorer.map_alpha == 0.9


@pytest.mark.parametrize("kwargs, argument", [
    ({"alpha": 1.2}, "alpha"), ({"alpha": 0.0}, "alpha"), ({"runs": 0}, "runs"),
    ({"new_tokens": 2.5}, "new_tokens"), ({"schedule": "fast"}, "schedule"),
    ({"table": pd.DataFrame({"alpha": [0.5]})}, "table"), ({"points": {"a": 3}}, "points"),
    ({"points": [1, 2]}, "points"), ({"profiler": "h100"}, "profiler"),
])
def test_regime_explorer_rejects_bad_arguments(cpu_profile, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        RegimeExplorer(cpu_profile, **kwargs)


def test_regime_explorer_needs_a_profile_as_base():
    with pytest.raises(ValueError, match="base"):
        RegimeExplorer({"target_forward_ms": [1.0]})


# ---- the tree a round verified, with retrieved chains (retrieval=) ------------------------------

def _retrieval_rec():
    """A round that verified a block of 3 (1 passed), a lookup chain at the root (not reached: the
    block's first token passed), one after the first block token (2 of 3 passed: it decided the
    round) and one after the block (not reached)."""
    rec = _rec(5, [70, 71, 72], 1, 99, None, [[80]])
    start = rec.context_len - 3
    rec.retrieved = [Chain([60, 61], [1.0] * 2, [[], []], start, "lookup", match=2),
                     Chain([75, 76, 77], [1.0] * 3, [[]] * 3, start + 1, "lookup", match=4),
                     Chain([90], [1.0], [[]], start + 3, "lookup", match=1)]
    rec.retrieved_passed = [0, 2, 0]
    return rec


def test_the_verified_tree_shows_each_retrieved_chain_where_it_was_grafted():
    rec = _retrieval_rec()
    assert verified_rows(rec) == [
        ("model", 0, [70, 71, 72], ["accepted", "rejected", "not reached"]),
        ("lookup (match 2)", 0, [60, 61], ["not reached", "not reached"]),
        ("lookup (match 4)", 1, [75, 76, 77], ["accepted", "accepted", "rejected"]),
        ("lookup (match 1)", 3, [90], ["not reached"])]
    assert retrieval_round([*TREES, rec]) == len(TREES)  # the round a branch beside the block decided
    assert retrieval_round(TREES) is None
    ax = draw_verified_tree(rec, _decode)
    texts = [t.get_text() for t in ax.texts]
    assert "lookup (match 4)" in texts and "model" in texts and any("target's token" in t for t in texts)
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 6  # one box per retrieved token
    explorer = TreeExplorer(SimpleNamespace(details={"draft_trees": [*TREES, rec]}), _decode)
    explorer.round.value = len(TREES)
    assert "Verified with 3 retrieved chain(s); 2 retrieved token(s) passed." in explorer.summary
    matplotlib.pyplot.close("all")


def test_the_retrieved_tree_text_reads_the_round_it_describes():
    from duolab.lab.lesson_text import retrieved_tree_text

    rec = _retrieval_rec()
    stats = {"rounds": 9, "retrieval_rounds": 3, "retrieval_branch_rounds": 1, "retrieved_accepted": 4,
             "retrieved_tokens": 20}
    text = retrieved_tree_text(stats, 5, rec)
    assert "decided 3 of this generation's 9 rounds (1 of them through a chain grafted beside" in text
    assert "4 of the 20 retrieved tokens" in text
    assert ("a block of 3 model token(s), 1 passed; retrieved chains at the root (0 of 2 passed), after 1 block "
            "token(s) (2 of 3 passed) and after 3 block token(s) (0 of 1 passed)") in text
    assert retrieved_tree_text(stats, None).endswith("No round verified a retrieved chain: try another prompt.")
