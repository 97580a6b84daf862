"""Draft trees of a duo generation: what each round proposed and what the target kept, drawn.

`Generation.details["draft_trees"]` holds one `DraftRound` per round: the k sequences the draft sent
(`Chain`s, with their draft probabilities), the block verified that round, how much of it passed,
the target's token, and which sequence (if any) that token selected. A round's tree is judged over two rounds:
its first tokens by the target's token of the same round, the chosen sequence's remaining
tokens (its tail) by the next round's verification.

`teaching_rounds` picks the rounds worth drawing (branching, a partial acceptance with its
correction, a chosen sequence that carries on); `draw_draft_trees` draws them with whole tokens,
whitespace made visible and special tokens marked (`⟨eos⟩`).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch

if TYPE_CHECKING:
    from duolab.methods.drafting import Chain
    from duolab.methods.duo import DraftRound


@dataclass
class TreeOutcome:
    round: int
    sequences: list[Chain]
    status: list[list[str]]  # per token: "accepted", "rejected" or "unverified"
    target_token: int  # the target's token at the first position
    chosen: int | None  # the sequence whose first token equals target_token
    correction: int | None  # the target's token where the chosen sequence was rejected
    correction_at: int | None  # index in the chosen sequence of that rejection
    discarded: bool = False  # drafted after a block that then failed: never judged
    tail_accepted: int | None = None  # tail tokens of the chosen sequence that passed next round


def discarded(record: DraftRound) -> bool:
    """The block verified in this round failed, so the tree drafted meanwhile was thrown away."""
    return record.accepted < len(record.verified)


def _tail_verdict(trees: list[DraftRound], r: int) -> int | None:
    """How many tokens of round r's chosen tail passed in the next round (None: never verified)."""
    rec, j = trees[r], trees[r].chosen
    if j is None or r + 1 >= len(trees):
        return None
    nxt = trees[r + 1]
    if nxt.round != rec.round + 1 or nxt.verified.tokens != rec.sequences[j].tokens[1:]:
        return None
    return nxt.accepted


def tree_outcome(trees: list[DraftRound], r: int) -> TreeOutcome:
    """Verdict on round r's tree, from round r's and round r+1's records."""
    if not 0 <= r < len(trees):
        raise ValueError(f"round must be in [0, {len(trees)}), got {r}")
    rec = trees[r]
    status = [["unverified"] * len(s) for s in rec.sequences]
    lost = discarded(rec)
    if not lost:
        for j in range(len(status)):
            status[j][0] = "accepted" if rec.chosen == j else "rejected"
    j = rec.chosen
    correction = correction_at = None
    accepted = _tail_verdict(trees, r)
    if accepted is not None:
        for i in range(1, len(rec.sequences[j])):
            status[j][i] = "accepted" if i - 1 < accepted else "rejected" if i - 1 == accepted else "unverified"
        if accepted < len(rec.sequences[j]) - 1:
            correction, correction_at = trees[r + 1].token, accepted + 1
    return TreeOutcome(r, rec.sequences, status, rec.token, j, correction,
                       correction_at, lost, accepted)


# ---- rounds that teach -------------------------------------------------------------------------

TEACHING = {  # purpose -> panel heading
    "branching": "branching (k > 1)",
    "partial": "partial acceptance and correction",
    "continues": "the chosen sequence continues",
}


def _teaching_scores(trees: list[DraftRound], r: int, special: set[int]) -> dict[str, tuple]:
    """For each purpose round r can serve, a score (higher teaches better). Rounds whose chosen
    sequence runs into a special token (past EOS nothing is committed) rank below the rest."""
    out = tree_outcome(trees, r)
    k, j = len(out.sequences), out.chosen
    clean = j is None or not special.intersection(out.sequences[j])
    passed = out.tail_accepted or 0
    scores: dict[str, tuple] = {}
    if k > 1 and j is not None:
        # best: the target picks an alternative to the main chain, whose tail then passes
        scores["branching"] = (clean, j != 0, out.tail_accepted is not None, passed > 0, k)
    if out.correction is not None:
        # best: some of the tail passes before the correction (a true partial acceptance)
        scores["partial"] = (clean, passed >= 1, k > 1, min(passed, 4))
    if out.tail_accepted is not None and out.correction is None and passed >= 1:
        again = trees[r + 1].chosen is not None  # and the speculation carries on once more
        scores["continues"] = (clean, passed >= 2, again, k > 1, min(passed, 6))
    return scores


def teaching_rounds(trees: list[DraftRound], tokens=None) -> dict[str, int]:
    """Rounds worth drawing, by what each shows (the keys of `TEACHING`):

    - "branching": a round with k > 1 sequences where the target's token picks one, preferably an
      alternative to the main chain;
    - "partial": a chosen sequence whose tail passes in part in the next round, followed by the
      target's correction;
    - "continues": a chosen sequence whose whole tail passes in the next round (the next round
      verifies exactly that tail), so the draft's speculation carries on.

    Rounds never judged (discarded) or all rejected are never picked; with `tokens` (the
    tokenizer) rounds whose chosen sequence holds a special token such as EOS come last. Each
    purpose gets its own round when one exists (ties: the earliest); a purpose no round can show
    is left out.
    """
    special = set(TokenLabeler(tokens).special) if tokens is not None else set()
    scored = {r: _teaching_scores(trees, r, special) for r in range(len(trees))}
    picks: dict[str, int] = {}
    for purpose in TEACHING:
        candidates = [(s[purpose], -r, r) for r, s in scored.items() if purpose in s]
        if not candidates:
            continue
        unused = [c for c in candidates if c[2] not in picks.values()]
        picks[purpose] = max(unused or candidates)[2]
    return picks


# ---- token labels ------------------------------------------------------------------------------

_SPECIAL_TEXT = re.compile(r"<\|?/?[A-Za-z_][\w.-]*\|?>")
_SPECIAL_NAMES = {"</s>": "eos", "<s>": "bos", "<unk>": "unk", "<pad>": "pad", "<|endoftext|>": "eos"}
_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


@dataclass(frozen=True)
class TokenLabel:
    text: str  # the whole token, whitespace made visible; "⟨eos⟩" etc. for a special token
    special: bool


class TokenLabeler:
    """Box labels for token ids: the whole token with spaces as ␣, newlines as ↵ and tabs as ⇥;
    special tokens (BOS, EOS, pad, ...) as ⟨bos⟩, ⟨eos⟩, ... and flagged `special`.

    Takes a tokenizer or its `decode` (a bound `tokenizer.decode` is traced back to its
    tokenizer); with a plain function, text like `</s>` or `<|endoftext|>` counts as special.
    """

    def __init__(self, tokens):
        if isinstance(tokens, TokenLabeler):
            tokens = tokens.tokenizer or tokens.decode
        tokenizer = tokens if hasattr(tokens, "decode") else getattr(tokens, "__self__", None)
        self.tokenizer = tokenizer if hasattr(tokenizer, "all_special_ids") else None
        self.decode = tokens.decode if hasattr(tokens, "decode") else tokens
        self.special: dict[int, str] = {}
        if self.tokenizer is not None:
            for role in ("eos", "bos", "pad", "unk"):
                i = getattr(self.tokenizer, f"{role}_token_id", None)
                if isinstance(i, int):
                    self.special.setdefault(i, role)
            for i, text in zip(self.tokenizer.all_special_ids, self.tokenizer.all_special_tokens,
                               strict=False):
                self.special.setdefault(i, _special_name(text))

    def __call__(self, token_id: int) -> TokenLabel:
        token_id = int(token_id)
        if token_id in self.special:
            return TokenLabel(f"⟨{self.special[token_id]}⟩", True)
        text = self.decode([token_id])
        if self.tokenizer is None and _SPECIAL_TEXT.fullmatch(text):
            return TokenLabel(f"⟨{_special_name(text)}⟩", True)
        if not text:
            return TokenLabel("∅", False)
        visible = text.translate(_VISIBLE)
        visible = "".join(c if c.isprintable() else repr(c)[1:-1] for c in visible)
        return TokenLabel(visible, False)


def _special_name(text: str) -> str:
    return _SPECIAL_NAMES.get(text) or text.strip("<>|/") or text


def describe_round(trees: list[DraftRound], r: int, tokens) -> str:
    """Round r in one sentence: what the target made of its first tokens and of the chosen tail."""
    labeler = TokenLabeler(tokens)

    def label(token_id: int) -> str:  # quoted, so a token like "." reads apart from the sentence
        return f"“{labeler(token_id).text}”"

    out = tree_outcome(trees, r)
    target = label(out.target_token)
    if out.discarded:
        text = (f"Discarded: the block verified this round failed (the target committed {target} "
                f"instead), so these drafts were thrown away")
        used = trees[r].outcome_used
        if used is None:
            tried = len(trees[r].outcomes)
            return text + (f"; none of the {tried} outcome chains drafted meanwhile guessed it." if tried else ".")
        chain = trees[r].outcomes[used]
        return (text + f", but the outcome chain pre-drafted for exactly this correction was used: "
                       f"{' '.join(label(t) for t in chain[1:])} is verified next round.")
    if out.chosen is None:
        return f"The target's token {target} matches no first token: every sequence is rejected."
    j = out.chosen
    text = f"The target's token {target} picks sequence {j + 1}"
    tail = len(out.sequences[j]) - 1
    if tail == 0:
        return text + "."
    if out.tail_accepted is None:
        return text + "; its tail is never verified (the generation ended)."
    if out.correction is None:
        return text + f"; in round {r + 1} its whole tail passes ({tail} token{'s' * (tail > 1)}): it carries on."
    wrong, right = label(out.sequences[j][out.correction_at]), label(out.correction)
    if out.tail_accepted == 0:
        return text + f"; in round {r + 1} its next token {wrong} is rejected and the target commits {right}."
    return (text + f"; in round {r + 1} {out.tail_accepted} of its {tail} tail tokens pass, then the "
                   f"target corrects {wrong} to {right}.")


def outcome_table(trees: list[DraftRound], r: int, tokens) -> pd.DataFrame:
    """The outcome chains the draft pre-drafted in round r while the target verified its block:
    where the block would be cut, the correction guessed there (one of the draft's next-best tokens), the
    continuation, and whether the target's verdict picked it."""
    labeler = TokenLabeler(tokens)
    rec = trees[r]
    rows = [{"cut after": f"{rec.cut(chain)} of {len(rec.verified)} block tokens",
             "guessed correction": labeler(chain[0]).text,
             "continuation": " ".join(labeler(t).text for t in chain[1:]),
             "used": i == rec.outcome_used}
            for i, chain in enumerate(rec.outcomes)]
    return pd.DataFrame(rows, columns=["cut after", "guessed correction", "continuation", "used"])


# ---- drawing -----------------------------------------------------------------------------------

COLORS = {"accepted": "#4caf50", "rejected": "#e57373", "unverified": "#bdbdbd"}
CORRECTION_COLOR = "#1565c0"
SPECIAL_COLOR = "#6a1b9a"
_FONT = 9  # token text, monospace
_UNIT_IN = 0.62 * _FONT / 72 * 1.08  # one x unit = one monospace character (with a little slack)
_ROW_IN = 0.62  # one y unit (one sequence)
_PREFIX_W, _BRANCH_W, _GAP = 8.0, 3.0, 1.0
_MIN_WIDTH_IN = 8.0


@dataclass
class _Layout:
    out: TreeOutcome
    label: TokenLabeler
    labels: list[list[TokenLabel]]
    columns: list[float]  # x of each position's left edge
    widths: list[float]  # each position's box width
    width: float  # in x units, the whole tree

    @property
    def note(self) -> str | None:  # a line under the tree when the target's token matched nothing
        if self.out.chosen is None and not self.out.discarded:  # (the title says when it was discarded)
            return f"target: {self.label(self.out.target_token).text} (matches no first token)"
        return None

    @property
    def rows(self) -> float:  # y units the panel needs: the sequences (and the note)
        return len(self.out.sequences) + (0.8 if self.note else 0.2)


def _layout(trees: list[DraftRound], r: int, label: TokenLabeler) -> _Layout:
    out = tree_outcome(trees, r)
    labels = [[label(t) for t in seq] for seq in out.sequences]
    n = max(len(s) for s in out.sequences)
    widths = [max([4] + [len(row[i].text) for row in labels if i < len(row)]) + 1.5 for i in range(n)]
    x, columns = _PREFIX_W + _BRANCH_W, []
    for w in widths:
        columns.append(x)
        x += w + _GAP
    return _Layout(out, label, labels, columns, widths, x)


def _box(ax, x, y, w, color, special=False):
    ax.add_patch(FancyBboxPatch((x, y - 0.3), w, 0.6, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor=color, edgecolor=SPECIAL_COLOR if special else "none",
                                linestyle="--" if special else "-", linewidth=1.2))


def _draw(ax: plt.Axes, lay: _Layout, width: float, title: str) -> None:
    out, k = lay.out, len(lay.out.sequences)
    mid = (k - 1) / 2
    _box(ax, 0, mid, _PREFIX_W, "#90caf9")
    ax.text(_PREFIX_W / 2, mid, "prefix", ha="center", va="center", fontsize=_FONT)
    for j, (seq_labels, seq, status) in enumerate(zip(lay.labels, out.sequences, out.status, strict=True)):
        y = k - 1 - j
        ax.plot([_PREFIX_W, _PREFIX_W + _BRANCH_W / 2, _PREFIX_W + _BRANCH_W / 2, lay.columns[0]],
                [mid, mid, y, y], color="grey", lw=1)
        for i, (lab, p, st) in enumerate(zip(seq_labels, seq.probs, status, strict=True)):
            x, w = lay.columns[i], lay.widths[i]
            _box(ax, x, y, w, COLORS[st], lab.special)
            ax.text(x + w / 2, y + 0.08, lab.text, ha="center", va="center", fontsize=_FONT,
                    family="monospace", color=SPECIAL_COLOR if lab.special else "black",
                    fontweight="bold" if lab.special else "normal")
            ax.text(x + w / 2, y - 0.19, f"{p:.2f}", ha="center", va="center", fontsize=6, color="#333333")
            if i + 1 < len(seq_labels):
                ax.plot([x + w, x + w + _GAP], [y, y], color="grey", lw=0.8)
        if j == out.chosen:
            ax.text(lay.columns[0] - 0.3, y, "▶", ha="right", va="center", fontsize=7,
                    color=CORRECTION_COLOR)
        if j == out.chosen and out.correction is not None:
            i = out.correction_at
            ax.text(lay.columns[i] + lay.widths[i] / 2, y + 0.36,
                    "target: " + lay.label(out.correction).text,
                    ha="center", va="bottom", fontsize=8, family="monospace", color=CORRECTION_COLOR)
    note = lay.note
    if note:
        ax.text(lay.columns[0], -0.75, note, fontsize=8, family="monospace", color=CORRECTION_COLOR,
                va="center")
    ax.set_xlim(0, width)
    ax.set_ylim(k - 0.2 - lay.rows, k - 0.2)
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=9)



def legend_handles() -> list:
    """The draft-tree colour key: verdicts, the target's correction, the chosen sequence, specials."""
    return [Patch(color=COLORS["accepted"], label="accepted"),
            Patch(color=COLORS["rejected"], label="rejected"),
            Patch(color=COLORS["unverified"], label="never verified"),
            Line2D([], [], color=CORRECTION_COLOR, marker="$▶$", lw=0, label="chosen by the target"),
            Line2D([], [], color=CORRECTION_COLOR, marker="$T$", lw=0, label="target's token"),
            Patch(facecolor="white", edgecolor=SPECIAL_COLOR, linestyle="--", label="special token ⟨eos⟩"),
            Line2D([], [], lw=0, label="␣ space  ↵ newline")]


def draw_draft_trees(trees: list[DraftRound], rounds, tokens, legend: bool = True, title: str = "") -> plt.Figure:
    """One panel per round, whole tokens on a shared scale (a character is as wide in every panel).

    `rounds`: a list of round indices, or `teaching_rounds(trees)` ({purpose: round}) to caption
    each panel with what it shows. `tokens`: the tokenizer (or its decode, or a `TokenLabeler`).
    `title` (e.g. the task and prompt) goes above the legend."""
    label = TokenLabeler(tokens)
    purposes: dict[int, list[str]] = {}
    for key, r in (rounds.items() if isinstance(rounds, dict) else ((None, r) for r in rounds)):
        purposes.setdefault(int(r), [])
        if key is not None:
            purposes[int(r)].append(key)
    if not purposes:
        raise ValueError("no rounds to draw")
    layouts = {r: _layout(trees, r, label) for r in sorted(purposes)}
    width = max(max(lay.width for lay in layouts.values()), (_MIN_WIDTH_IN - 0.4) / _UNIT_IN)
    fig_w = width * _UNIT_IN + 0.4
    wrap = int(fig_w * 72 / (0.55 * 9))  # title characters per line
    titles = {}
    for r, lay in layouts.items():
        head = f"round {r} · {len(lay.out.sequences)} sequence(s)"
        if purposes[r]:
            head += " · " + ", ".join(TEACHING[p] for p in purposes[r])
        titles[r] = "\n".join([head] + textwrap.wrap(describe_round(trees, r, label), wrap))
    title_in = {r: 0.18 * (t.count("\n") + 1) + 0.12 for r, t in titles.items()}
    title_top = 0.35 if title else 0.0
    legend_in = (0.45 if legend else 0.1) + title_top
    fig_h = legend_in + sum(lay.rows * _ROW_IN + title_in[r] + 0.1 for r, lay in layouts.items())
    fig = plt.figure(figsize=(fig_w, fig_h))
    top = fig_h - legend_in
    for r, lay in layouts.items():
        h = lay.rows * _ROW_IN
        top -= title_in[r]
        ax = fig.add_axes((0.2 / fig_w, (top - h) / fig_h, width * _UNIT_IN / fig_w, h / fig_h))
        _draw(ax, lay, width, titles[r])
        top -= h + 0.1
    if legend:
        fig.legend(handles=legend_handles(), loc="upper left", bbox_to_anchor=(0.2 / fig_w, 1 - title_top / fig_h),
                   ncol=7, fontsize=8, frameon=False, handlelength=1.2, columnspacing=1.2)
    if title:
        fig.text(0.2 / fig_w, 1 - 0.08 / fig_h, title, va="top", fontsize=11, weight="bold")
    return fig


def draw_draft_tree(trees: list[DraftRound], r: int, tokens, ax: plt.Axes | None = None) -> plt.Axes:
    """Round r's k draft sequences as branches from the committed prefix: one box per token with
    its whole text and draft probability, coloured by the target's verdict; the target's token in
    blue. Without `ax` it makes a figure sized to the tokens (`draw_draft_trees` with one round);
    into a given `ax` it draws on that axes' scale."""
    if ax is None:
        return draw_draft_trees(trees, [r], tokens).axes[0]
    label = TokenLabeler(tokens)
    lay = _layout(trees, r, label)
    _draw(ax, lay, lay.width, f"round {r}: {len(lay.out.sequences)} sequence(s). "
                              f"{describe_round(trees, r, label)}")
    return ax
