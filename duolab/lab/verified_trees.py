"""The tree a duo round verified, drawn by origin: its block (the worker's chain) and the retrieved
chains grafted into it (`retrieval=`), each branching where it was grafted.

`DraftRound.verified` is the block, `retrieved` the prompt-lookup chains (each `Chain.start` says
where it was grafted: `DraftRound.cut`), `retrieved_passed` how many tokens of each passed. Model
tokens are drawn as filled boxes, retrieved ones hatched, in the verdict's colour: accepted,
rejected, or not reached (the verifier never got to them: an earlier token failed, or a sibling
passed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch, Patch

from duolab.lab.draft_trees import _FONT, _UNIT_IN, COLORS, CORRECTION_COLOR, TokenLabeler

if TYPE_CHECKING:
    from duolab.methods.duo import DraftRound

_PREFIX_W, _GAP, _ROW_IN = 9.0, 1.0, 0.55


def verified_rows(record: DraftRound) -> list[tuple[str, int, list[int], list[str]]]:
    """The round's verified tree as rows: (what drafted it, the column it starts at, its tokens,
    each token's verdict: "accepted", "rejected" or "not reached"). The block first."""
    m, passed = len(record.verified), record.accepted
    rows = [("model", 0, record.verified.tokens,
             ["accepted"] * passed + ["rejected"] * (passed < m) + ["not reached"] * (m - passed - 1))]
    for chain, ok in zip(record.retrieved, record.retrieved_passed, strict=True):
        at = record.cut(chain)
        tried = ok > 0 or passed == at  # the verifier got to its graft point with the block's token there failing
        status = (["accepted"] * ok + ["rejected"] * (ok < len(chain)) + ["not reached"] * (len(chain) - ok - 1)
                  if tried else ["not reached"] * len(chain))
        rows.append((f"lookup (match {chain.match})", at, chain.tokens, status))
    return rows


def retrieval_round(trees: list[DraftRound]) -> int | None:
    """The round worth drawing: the first where a chain grafted beside the block's tokens passed,
    else the first where a retrieved chain passed, else the one with the most retrieved chains
    (None: no round verified any)."""
    beside = [r for r, t in enumerate(trees)
              if any(ok and t.cut(c) < len(t.verified) for c, ok in zip(t.retrieved, t.retrieved_passed, strict=True))]
    passed = [r for r, t in enumerate(trees) if any(t.retrieved_passed)]
    most = max(range(len(trees)), key=lambda r: len(trees[r].retrieved), default=None)
    return (beside or passed or [most if most is not None and trees[most].retrieved else None])[0]


def draw_verified_tree(record: DraftRound, tokens, ax: plt.Axes | None = None) -> plt.Axes:
    """Round `record`'s verified tree: the block from the committed prefix, each retrieved chain
    branching off after the block token it was grafted after; the target's token in blue."""
    label = TokenLabeler(tokens)
    rows = verified_rows(record)
    width = max([4] + [len(label(t).text) for _, _, toks, _ in rows for t in toks]) + 1.5
    columns = 1 + max(at + len(toks) for _, at, toks, _ in rows)
    span = _PREFIX_W + columns * (width + _GAP)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, span * _UNIT_IN + 0.4), 0.5 + _ROW_IN * len(rows)))
    x_of = lambda col: _PREFIX_W + col * (width + _GAP)  # noqa: E731
    _box(ax, 0, 0, _PREFIX_W - 1, "#90caf9")
    ax.text((_PREFIX_W - 1) / 2, 0, "prefix", ha="center", va="center", fontsize=_FONT)
    for y, (origin, at, toks, status) in enumerate(rows):
        y = -y
        start = x_of(at)
        ax.plot([x_of(at) - _GAP if at else _PREFIX_W - 1, start], [0, y], color="grey", lw=0.8)  # its branch
        for i, (tok, st) in enumerate(zip(toks, status, strict=True)):
            x = x_of(at + i)
            _box(ax, x, y, width, COLORS["unverified" if st == "not reached" else st], hatch=origin != "model")
            ax.text(x + width / 2, y, label(tok).text, ha="center", va="center", fontsize=_FONT, family="monospace")
        ax.text(x_of(at + len(toks)) + 0.2, y, origin, va="center", fontsize=7, color="#333333")
    ax.text(0.5, -len(rows) + 0.35, f"target's token after what passed: {label(record.token).text}",
            fontsize=8, family="monospace", color=CORRECTION_COLOR, va="center")
    ax.set_xlim(0, span + 14)
    ax.set_ylim(-len(rows) + 0.1, 0.6)
    ax.axis("off")
    ax.legend(handles=[Patch(color=COLORS["accepted"], label="accepted"),
                       Patch(color=COLORS["rejected"], label="rejected"),
                       Patch(color=COLORS["unverified"], label="not reached"),
                       Patch(facecolor="white", edgecolor="#555555", hatch="////", label="retrieved (prompt lookup)")],
              loc="upper right", fontsize=7, frameon=False, ncol=4, bbox_to_anchor=(1, 1.25))
    return ax


def _box(ax, x, y, w, color, hatch=False):
    ax.add_patch(FancyBboxPatch((x, y - 0.3), w, 0.6, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor=color, edgecolor="#555555" if hatch else "none",
                                hatch="////" if hatch else None, linewidth=0.8))
