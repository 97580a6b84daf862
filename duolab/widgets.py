"""ipywidgets for the notebooks: a round-by-round draft-tree explorer and a live decoding sweep.

Both keep their controls as attributes and redraw into an `Output`, so a test (or a notebook
cell) can drive them programmatically: set `explorer.round.value = 3` and the tree redraws.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from duolab.draft_trees import (
    TEACHING,
    TokenLabeler,
    describe_round,
    draw_draft_tree,
    teaching_rounds,
)
from duolab.generation import Generation, generate
from duolab.models import Pair
from duolab.plots import plot_timelines, round_table
from duolab.prompts import TASKS, load_prompts


def _fits(width: str = "360px") -> dict:
    """Control options that keep a whole description ("temperature") visible."""
    return {"style": {"description_width": "initial"}, "layout": W.Layout(width=width)}


class TreeExplorer:
    """Step through a duo generation's rounds: the draft tree, the target's verdict, the text.

    `tokens`: the pair's tokenizer (special tokens are then marked by id) or its `decode`."""

    def __init__(self, generation: Generation, tokens):
        self.trees = generation.details.get("draft_trees") or []
        if not self.trees:
            raise ValueError("the generation has no draft trees: run it with method='duo'")
        self.label = TokenLabeler(tokens)
        self.round = W.IntSlider(0, 0, len(self.trees) - 1, description="round", **_fits("420px"))
        picks = teaching_rounds(self.trees, self.label)
        self.hint = W.HTML("rounds that teach: " + (", ".join(
            f"{TEACHING[p]} → round {r}" for p, r in picks.items()) or "none in this generation"))
        self.output = W.Output()
        self.summary = ""  # what the last redraw showed, in words
        self.round.observe(lambda change: self.redraw(), names="value")
        self.widget = W.VBox([self.round, self.hint, self.output])
        self.redraw()

    def redraw(self) -> None:
        r = self.round.value
        rec = self.trees[r]
        self.summary = f"round {r}: {len(rec['sequences'])} sequence(s). {describe_round(self.trees, r, self.label)}"
        self.output.clear_output(wait=True)
        with self.output:
            ax = draw_draft_tree(self.trees, r, self.label)
            plt.show()
            plt.close(ax.figure)

    def _ipython_display_(self):
        display(self.widget)


class DecodingSweep:
    """Sliders for budget, max_sequences (k), temperature and task: each change reruns `sps` and
    `duo` on one prompt of the task and redraws both timelines with their tokens/s."""

    def __init__(self, pair: Pair, max_new_tokens: int = 64, seed: int = 0):
        self.pair, self.max_new_tokens, self.seed = pair, max_new_tokens, seed
        self.budget = W.IntSlider(8, 1, 32, description="budget γ", **_fits())
        self.k = W.IntSlider(4, 1, 8, description="max k", **_fits())
        self.temperature = W.FloatSlider(0.0, min=0.0, max=1.5, step=0.1, description="temperature", **_fits())
        self.task = W.Dropdown(options=list(TASKS), value="math_reasoning", description="task", **_fits())
        self.output = W.Output()
        self.results: pd.DataFrame = pd.DataFrame()
        for control in (self.budget, self.k, self.temperature, self.task):
            control.observe(lambda change: self.redraw(), names="value")
        self.widget = W.VBox([W.HBox([self.budget, self.k]), W.HBox([self.temperature, self.task]),
                              self.output])
        self.redraw()

    def redraw(self) -> None:
        prompt = load_prompts(self.task.value, 1)[0]
        common = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature.value,
                  "seed": self.seed}
        runs = {"sps": generate(self.pair, prompt, method="sps", budget=self.budget.value, **common),
                "duo": generate(self.pair, prompt, method="duo", budget=self.budget.value,
                                max_sequences=self.k.value, **common)}
        self.results = pd.DataFrame({m: g.stats for m, g in runs.items()}).T.reindex(
            columns=["budget", "new_tokens", "tokens_per_s", "tau", "ttft_s", "mean_k"]).apply(pd.to_numeric)
        self.output.clear_output(wait=True)
        with self.output:
            fig = plot_timelines({f"{m}: {g.stats['tokens_per_s']:.0f} tokens/s, tau {g.stats['tau']:.2f}":
                                  g.trace for m, g in runs.items()})
            plt.show()
            plt.close(fig)
            display(round_table(self.results, 3))

    def _ipython_display_(self):
        display(self.widget)
