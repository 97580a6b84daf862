"""Each widget: construct it, drive its controls programmatically, check the redraw changed.
The draft-tree figure: which rounds it picks, and how it labels tokens."""

import matplotlib
import pytest

from duolab import generate
from duolab.draft_trees import (
    SPECIAL_COLOR,
    TokenLabeler,
    describe_round,
    draw_draft_trees,
    teaching_rounds,
    tree_outcome,
)
from duolab.plots import (
    TIMELINE_COLORS,
    TIMELINE_LEGEND,
    plot_timelines,
    round_table,
    timeline_handles,
)
from duolab.widgets import DecodingSweep, TreeExplorer

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


# ---- the draft-tree figure on hand-made records (the keys of duo's draft_trees) -----------------

def _rec(r, verified, accepted, token, chosen, sequences):
    return {"round": r, "context_len": 10 + r, "verified": verified, "accepted": accepted, "token": token,
            "chosen": chosen, "sequences": sequences, "probs": [[0.5] * len(s) for s in sequences],
            "candidates": [s[0] for s in sequences], "confidence": 0.3}


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
    assert len(TREES[picks["branching"]]["sequences"]) > 1
    partial = tree_outcome(TREES, picks["partial"])
    assert picks["partial"] == 2 and partial.tail_accepted == 1
    assert (partial.correction, partial.correction_at) == (40, 2)
    assert partial.status[0] == ["accepted", "accepted", "rejected", "unverified"]
    cont = tree_outcome(TREES, picks["continues"])
    assert picks["continues"] == 4  # r1 continues too, but it already shows branching
    assert cont.correction is None and cont.tail_accepted == len(cont.sequences[cont.chosen]) - 1 >= 1
    assert TREES[picks["continues"] + 1]["verified"] == cont.sequences[cont.chosen][1:]
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
    trees = [dict(t) for t in TREES]
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
