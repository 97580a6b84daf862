"""Draft trees of a duo generation: what each round proposed and what the target kept, drawn.

`Generation.details["draft_trees"]` holds one record per round: the k sequences the draft sent,
their draft probabilities, the block verified that round, how much of it passed, the target's
token, and which sequence (if any) that token selected. A round's tree is judged over two rounds:
its first tokens by the target's token of the same round, the chosen sequence's remaining
tokens by the next round's verification.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt


@dataclass
class TreeOutcome:
    round: int
    sequences: list[list[int]]
    probs: list[list[float]]
    status: list[list[str]]  # per token: "accepted", "rejected" or "unverified"
    target_token: int  # the target's token at the first position
    chosen: int | None  # the sequence whose first token equals target_token
    correction: int | None  # the target's token where the chosen sequence was rejected
    correction_at: int | None  # index in the chosen sequence of that rejection


def tree_outcome(trees: list[dict], r: int) -> TreeOutcome:
    """Verdict on round r's tree, from round r's and round r+1's records."""
    if not 0 <= r < len(trees):
        raise ValueError(f"round must be in [0, {len(trees)}), got {r}")
    rec = trees[r]
    status = [["unverified"] * len(s) for s in rec["sequences"]]
    correction = correction_at = None
    discarded = rec["accepted"] < len(rec["verified"])  # drafted after a block that then failed
    for j in range(len(status)):
        if not discarded:
            status[j][0] = "accepted" if rec["chosen"] == j else "rejected"
    j = rec["chosen"]
    if j is not None and r + 1 < len(trees):
        nxt = trees[r + 1]
        accepted = nxt["accepted"]
        for i in range(1, len(rec["sequences"][j])):
            status[j][i] = "accepted" if i - 1 < accepted else "rejected" if i - 1 == accepted else "unverified"
        if accepted < len(rec["sequences"][j]) - 1:
            correction, correction_at = nxt["token"], accepted + 1
    return TreeOutcome(r, rec["sequences"], rec["probs"], status, rec["token"], j, correction,
                       correction_at)


COLORS = {"accepted": "#4caf50", "rejected": "#e57373", "unverified": "#bdbdbd"}


def draw_draft_tree(trees: list[dict], r: int, decode, ax: plt.Axes | None = None) -> plt.Axes:
    """Round r's k draft sequences as branches from the committed prefix: one box per token with
    its text and draft probability, coloured by the target's verdict; the correction in blue."""
    out = tree_outcome(trees, r)
    k = len(out.sequences)
    width = max(len(s) for s in out.sequences) + 2
    if ax is None:
        _, ax = plt.subplots(figsize=(min(2 + 1.3 * width, 16), 1.2 + 0.9 * k))
    ax.add_patch(plt.Rectangle((-0.45, (k - 1) / 2 - 0.3), 0.9, 0.6, color="#90caf9"))
    ax.text(0, (k - 1) / 2, "prefix", ha="center", va="center", fontsize=8)
    for j, (seq, probs, status) in enumerate(zip(out.sequences, out.probs, out.status, strict=True)):
        y = k - 1 - j
        ax.plot([0.45, 0.55], [(k - 1) / 2, y], color="grey", lw=1)
        for i, (tok, p, st) in enumerate(zip(seq, probs, status, strict=True)):
            x = i + 1
            ax.add_patch(plt.Rectangle((x - 0.45, y - 0.3), 0.9, 0.6, color=COLORS[st]))
            ax.text(x, y + 0.05, repr(decode([tok]))[1:-1][:8], ha="center", va="center", fontsize=8)
            ax.text(x, y - 0.2, f"{p:.2f}", ha="center", va="center", fontsize=6, color="#333333")
        if j == out.chosen and out.correction is not None:
            x = out.correction_at + 1
            ax.text(x, y + 0.45, "target: " + repr(decode([out.correction]))[1:-1][:8],
                    ha="center", fontsize=7, color="#1565c0")
    if trees[r]["accepted"] < len(trees[r]["verified"]):
        ax.text(1, -0.75, "discarded: the block verified this round was rejected", fontsize=7,
                color="#1565c0")
    elif out.chosen is None:
        ax.text(1, -0.75, "target: " + repr(decode([out.target_token]))[1:-1][:8] +
                " (no first token matched)", fontsize=7, color="#1565c0")
    ax.set_xlim(-0.6, width - 0.4)
    ax.set_ylim(-1.0, k - 0.2 + 0.4)
    ax.axis("off")
    ax.set_title(f"round {r}: {k} sequence(s)", fontsize=9)
    return ax
