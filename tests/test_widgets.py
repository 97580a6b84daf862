"""Each widget: construct it, drive its controls programmatically, check the redraw changed."""

import matplotlib
import pytest

from duolab import generate
from duolab.widgets import DecodingSweep, TreeExplorer

matplotlib.use("Agg")


def test_tree_explorer_redraws_on_round_change(toy_pair):
    g = generate(toy_pair, "def step(self, batch):", method="duo", budget=6, max_new_tokens=40)
    explorer = TreeExplorer(g, toy_pair.tokenizer.decode)
    assert explorer.round.max == len(g.details["draft_trees"]) - 1 >= 2
    seen = {explorer.summary}
    for r in range(1, explorer.round.max + 1):
        explorer.round.value = r
        assert explorer.summary.startswith(f"round {r}:")
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
    sweep.budget.value = 3
    assert (sweep.results.budget == 3).all()
    before = sweep.results.copy()
    sweep.task.value = "humaneval"
    assert sweep.results.ttft_s.tolist() != before.ttft_s.tolist()
    sweep.k.value = 1
    assert sweep.results.loc["duo", "mean_k"] == 1.0
    sweep.temperature.value = 1.0
    assert sweep.results.new_tokens.sum() > 0
