"""ipywidgets for the notebooks: a round-by-round draft-tree explorer and a live decoding sweep.

Both keep their controls as attributes and redraw into an `Output`, so a test (or a notebook
cell) can drive them programmatically: set `explorer.round.value = 3` and the tree redraws.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from duolab.draft_trees import draw_draft_tree, tree_outcome
from duolab.generation import Generation, generate
from duolab.models import Pair
from duolab.plots import plot_timeline
from duolab.prompts import TASKS, load_prompts


class TreeExplorer:
    """Step through a duo generation's rounds: the draft tree, the target's verdict, the text."""

    def __init__(self, generation: Generation, decode):
        self.trees = generation.details.get("draft_trees") or []
        if not self.trees:
            raise ValueError("the generation has no draft trees: run it with method='duo'")
        self.decode = decode
        self.round = W.IntSlider(0, 0, len(self.trees) - 1, description="round")
        self.output = W.Output()
        self.summary = ""  # what the last redraw showed, in words
        self.round.observe(lambda change: self.redraw(), names="value")
        self.widget = W.VBox([self.round, self.output])
        self.redraw()

    def redraw(self) -> None:
        r = self.round.value
        out = tree_outcome(self.trees, r)
        accepted = sum(st == "accepted" for row in out.status for st in row)
        self.summary = (f"round {r}: {len(out.sequences)} sequence(s), {accepted} token(s) accepted, "
                        f"target token {self.decode([out.target_token])!r}")
        self.output.clear_output(wait=True)
        with self.output:
            fig, ax = plt.subplots(figsize=(12, 1.4 + 0.8 * len(out.sequences)))
            draw_draft_tree(self.trees, r, self.decode, ax)
            plt.show()
            plt.close(fig)
            print(self.summary)

    def _ipython_display_(self):
        display(self.widget)


class DecodingSweep:
    """Sliders for budget, max_sequences (k), temperature and task: each change reruns `sps` and
    `duo` on one prompt of the task and redraws both timelines with their tokens/s."""

    def __init__(self, pair: Pair, max_new_tokens: int = 64, seed: int = 0):
        self.pair, self.max_new_tokens, self.seed = pair, max_new_tokens, seed
        self.budget = W.IntSlider(8, 1, 32, description="budget γ")
        self.k = W.IntSlider(4, 1, 8, description="max k")
        self.temperature = W.FloatSlider(0.0, min=0.0, max=1.5, step=0.1, description="temperature")
        self.task = W.Dropdown(options=list(TASKS), value="math_reasoning", description="task")
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
            columns=["budget", "new_tokens", "tokens_per_s", "tau", "ttft_s", "mean_k"])
        self.output.clear_output(wait=True)
        with self.output:
            fig, axes = plt.subplots(2, 1, figsize=(11, 4), sharex=True)
            for ax, (m, g) in zip(axes, runs.items(), strict=True):
                plot_timeline(g.trace, ax, f"{m}: {g.stats['tokens_per_s']:.0f} tokens/s, "
                                           f"tau {g.stats['tau']:.2f}")
            fig.tight_layout()
            plt.show()
            plt.close(fig)
            display(self.results)

    def _ipython_display_(self):
        display(self.widget)
