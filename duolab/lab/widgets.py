"""ipywidgets for the notebooks: a round-by-round draft-tree explorer and a live decoding sweep,
each with a guided challenge (`challenge_met`, and a `status` line the redraw updates); the regime
map's explorable, `RegimeExplorer`, lives in duolab.lab.explorable (imported here too).

All keep their controls as attributes and redraw into an `Output`, so a test (or a notebook
cell) can drive them programmatically: set `explorer.round.value = 3` and the tree redraws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from duolab.generation import generate
from duolab.lab.draft_trees import (
    TEACHING,
    TokenLabeler,
    describe_round,
    draw_draft_tree,
    teaching_rounds,
    tree_outcome,
)
from duolab.lab.explorable import RegimeExplorer, control_options
from duolab.lab.plots import plot_timelines, round_table
from duolab.lab.verified_trees import draw_verified_tree
from duolab.models import Pair
from duolab.prompts import TASKS, load_prompts
from duolab.run import Generation

if TYPE_CHECKING:
    from duolab.methods.duo import DraftRound

__all__ = ["DecodingSweep", "RegimeExplorer", "TreeExplorer"]

TREE_CHALLENGE = "find a round where the target picks the draft's second sequence (or a later one)"
SWEEP_CHALLENGE = "move γ until duo loses to SpS on this task (duo's tokens/s below SpS's)"


def picks_later_sequence(trees: list[DraftRound], r: int) -> int | None:
    """The sequence (1-based) the target's token picked in round r when it is the draft's second
    or a later one, else None. Discarded rounds never count: the target judged none of their
    sequences."""
    out = tree_outcome(trees, r)
    return out.chosen + 1 if not out.discarded and out.chosen is not None and out.chosen >= 1 else None


def _challenge_html(text: str) -> W.HTML:
    return W.HTML(f"<b>Challenge</b>: {text}.")


class TreeExplorer:
    """Step through a duo generation's rounds: the draft tree, the target's verdict, the text.

    `tokens`: the pair's tokenizer (special tokens are then marked by id) or its `decode`.
    Challenge (TREE_CHALLENGE): `challenge_met` turns True once a round is shown where the target
    picks the draft's second sequence or a later one; `challenge_rounds` lists those rounds."""

    def __init__(self, generation: Generation, tokens):
        self.trees = generation.details.get("draft_trees") or []
        if not self.trees:
            raise ValueError("the generation has no draft trees: run it with method='duo'")
        self.label = TokenLabeler(tokens)
        self.round = W.IntSlider(0, 0, len(self.trees) - 1, description="round", **control_options("420px"))
        picks = teaching_rounds(self.trees, self.label)
        self.hint = W.HTML("rounds that teach: " + (", ".join(
            f"{TEACHING[p]} → round {r}" for p, r in picks.items()) or "none in this generation"))
        self.challenge_rounds = [r for r in range(len(self.trees)) if picks_later_sequence(self.trees, r)]
        self.challenge_met, self.met_at = False, None  # met yet, and in which round
        self.challenge, self.status = _challenge_html(TREE_CHALLENGE), W.HTML()
        self.output = W.Output()
        self.summary = ""  # what the last redraw showed, in words
        self.round.observe(lambda change: self.redraw(), names="value")
        self.widget = W.VBox([self.round, self.hint, self.challenge, self.status, self.output])
        self.redraw()

    def redraw(self) -> None:
        r = self.round.value
        rec = self.trees[r]
        self.summary = f"round {r}: {len(rec.sequences)} sequence(s). {describe_round(self.trees, r, self.label)}"
        if rec.retrieved:  # retrieval=: the tree this round verified, retrieved chains apart
            self.summary += (f" Verified with {len(rec.retrieved)} retrieved chain(s); "
                             f"{sum(rec.retrieved_passed)} retrieved token(s) passed.")
        self._update_challenge(r)
        self.output.clear_output(wait=True)
        with self.output:
            ax = draw_draft_tree(self.trees, r, self.label)
            plt.show()
            plt.close(ax.figure)
            if rec.retrieved:
                ax = draw_verified_tree(rec, self.label)
                ax.set_title(f"round {r}: what the target verified (the block, and prompt lookup's chains)",
                             loc="left", fontsize=9)
                plt.show()
                plt.close(ax.figure)

    def _update_challenge(self, r: int) -> None:
        picked = picks_later_sequence(self.trees, r)
        if picked and not self.challenge_met:
            self.challenge_met, self.met_at = True, r
        if picked:
            text = (f"✓ met: in round {r} the target picks sequence {picked} of "
                    f"{len(self.trees[r].sequences)}, not the draft's first guess")
        elif not self.challenge_rounds:
            text = ("no round of this generation has the target pick the second sequence or a later "
                    "one: generate another (another prompt, a higher temperature, or a larger max_sequences)")
        else:
            n = len(self.challenge_rounds)
            text = f"not round {r}: {n} round(s) of this generation have it"
            if self.challenge_met:
                text = f"✓ met in round {self.met_at}; " + text
        self.status.value = f"<b>status</b>: {text}"

    def _ipython_display_(self):
        display(self.widget)


class DecodingSweep:
    """Sliders for budget, max_sequences (k), temperature and task: each change reruns `sps` and
    `duo` on one prompt of the task and redraws both timelines with their tokens/s.

    Challenge (SWEEP_CHALLENGE): `challenge_met` turns True at the first setting the learner moved
    to where duo's tokens/s fall below SpS's (`met_at`: that setting); the starting setting does
    not count."""

    def __init__(self, pair: Pair, max_new_tokens: int = 64, seed: int = 0):
        self.pair, self.max_new_tokens, self.seed = pair, max_new_tokens, seed
        self.budget = W.IntSlider(8, 1, 32, description="budget γ", **control_options("360px"))
        self.k = W.IntSlider(4, 1, 8, description="max k", **control_options("360px"))
        self.temperature = W.FloatSlider(0.0, min=0.0, max=1.5, step=0.1, description="temperature", **control_options("360px"))
        self.task = W.Dropdown(options=list(TASKS), value="math_reasoning", description="task", **control_options("360px"))
        self.output = W.Output()
        self.results: pd.DataFrame = pd.DataFrame()
        self.challenge_met, self.met_at = False, None  # met yet, and the setting that met it
        self.challenge, self.status = _challenge_html(SWEEP_CHALLENGE), W.HTML()
        self._moved = False
        for control in (self.budget, self.k, self.temperature, self.task):
            control.observe(self._on_change, names="value")
        self.widget = W.VBox([W.HBox([self.budget, self.k]), W.HBox([self.temperature, self.task]),
                              self.challenge, self.status, self.output])
        self.redraw()

    def _on_change(self, change) -> None:
        self._moved = True
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
        self._update_challenge()
        self.output.clear_output(wait=True)
        with self.output:
            fig = plot_timelines({f"{m}: {g.stats['tokens_per_s']:.0f} tokens/s, tau {g.stats['tau']:.2f}":
                                  g.trace for m, g in runs.items()})
            plt.show()
            plt.close(fig)
            display(round_table(self.results, 3))

    def _update_challenge(self) -> None:
        duo, sps = self.results.loc["duo", "tokens_per_s"], self.results.loc["sps", "tokens_per_s"]
        here = {"budget": self.budget.value, "k": self.k.value, "temperature": self.temperature.value,
                "task": self.task.value}
        where = f"γ={here['budget']} on {here['task']}"
        if duo < sps and self._moved and not self.challenge_met:
            self.challenge_met, self.met_at = True, here
        if duo < sps and self._moved:
            text = f"✓ duo is slower than SpS at {where} ({duo:.0f} vs {sps:.0f} tokens/s)"
        else:
            text = f"duo {duo:.0f} vs SpS {sps:.0f} tokens/s at {where}"
            if duo < sps:  # only at the start: the learner has not moved anything yet
                text += ": duo is already slower at the starting setting, which does not count; move γ"
            elif self.challenge_met:
                text = f"✓ met at γ={self.met_at['budget']} on {self.met_at['task']}; here: " + text
            else:
                text = "not yet: " + text
        self.status.value = f"<b>status</b>: {text}"

    def _ipython_display_(self):
        display(self.widget)
