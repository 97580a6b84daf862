"""Figures: where they go (`save_figure`) and the plots more than one notebook draws.

Quick mode (`DUOLAB_QUICK=1`) writes figures and tables to a temporary folder so a CI run
never overwrites what is committed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
_QUICK_DIR: Path | None = None


def quick_mode() -> bool:
    return os.environ.get("DUOLAB_QUICK", "") not in ("", "0")


def _output_root() -> Path | None:
    """None for the repository; a per-process temporary folder in quick mode."""
    global _QUICK_DIR
    if not quick_mode():
        return None
    if _QUICK_DIR is None:
        _QUICK_DIR = Path(tempfile.mkdtemp(prefix="duolab-quick-"))
    return _QUICK_DIR


def figures_dir() -> Path:
    root = _output_root()
    d = (root / "figures") if root else ROOT / "figures"
    d.mkdir(parents=True, exist_ok=True)
    return d


def results_dir() -> Path:
    root = _output_root()
    d = (root / "results") if root else ROOT / "data" / "results"
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_figure(fig: plt.Figure, name: str) -> list[Path]:
    """Save `fig` as figures/<name>.png and .svg (a temp folder in quick mode); return the paths."""
    if not name or "/" in name or name.endswith((".png", ".svg")):
        raise ValueError(f"figure name must be a bare stem like 'timeline', got {name!r}")
    paths = [figures_dir() / f"{name}.{ext}" for ext in ("png", "svg")]
    # A fixed hash salt and no date keep a regenerated SVG byte-identical when nothing changed.
    with plt.rc_context({"svg.hashsalt": "duolab"}):
        for p in paths:
            fig.savefig(p, dpi=150, bbox_inches="tight",
                        metadata={"Date": None} if p.suffix == ".svg" else None)
    return paths


SIDE_COLORS = {"forward": "tab:blue", "prefill": "tab:cyan", "draft": "tab:orange",
               "catch_up": "tab:red",
               "sync": "tab:green", "wait": "lightgrey"}


def plot_timeline(trace: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Gantt chart of a `Generation.trace`: one lane per side, one bar per event, in ms."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.2))
    sides = list(dict.fromkeys(trace["side"]))
    for lane, side in enumerate(sides):
        rows = trace[trace["side"] == side]
        for kind, group in rows.groupby("kind"):
            spans = [(1000 * s, 1000 * (e - s)) for s, e in zip(group.start_s, group.end_s, strict=True)]
            ax.broken_barh(spans, (lane - 0.4, 0.8), color=SIDE_COLORS.get(kind, "tab:grey"),
                           label=kind)
    ax.set_yticks(range(len(sides)), sides)
    ax.set_xlabel("time since the call began (ms)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), ncol=len(unique), loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax
