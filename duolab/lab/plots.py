"""Figures: where they go (`save_figure`) and the plots more than one notebook draws.

Paths and quick mode live in duolab.paths (in quick mode figures go to a temporary folder).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from duolab.arguments import is_number
from duolab.artefacts import record
from duolab.paths import figures_dir


def save_figure(fig: plt.Figure, name: str) -> None:
    """Save `fig` as figures/<name>.png and .svg (a temp folder in quick mode). Returns None, so a
    notebook cell ending in it prints nothing; the files are `figure_paths(name)`, entered in the
    artefact manifest (duolab.artefacts)."""
    if not name or "/" in name or name.endswith((".png", ".svg")):
        raise ValueError(f"figure name must be a bare stem like 'timeline', got {name!r}")
    # A fixed hash salt and no date keep a regenerated SVG byte-identical when nothing changed.
    with plt.rc_context({"svg.hashsalt": "duolab"}):
        for p in figure_paths(name):
            fig.savefig(p, dpi=150, bbox_inches="tight",
                        metadata={"Date": None} if p.suffix == ".svg" else None)
    record(*figure_paths(name))


def figure_paths(name: str) -> list[Path]:
    """Where `save_figure(fig, name)` writes: the .png and the .svg."""
    return [figures_dir() / f"{name}.{ext}" for ext in ("png", "svg")]


def legend_outside(ax: plt.Axes, **kwargs):
    """The axes' legend to the right of the plot, where it covers no bar or line."""
    return ax.legend(**{"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 8,
                        "frameon": False, **kwargs})


def round_table(table, digits: int = 3):
    """A copy of a stats DataFrame/Series for display: numbers rounded to `digits` decimals (columns
    of mixed objects, like `Generation.stats`, included); lists and text left as they are."""
    def rnd(v):
        if not is_number(v):
            return v
        return round(float(v), digits) if isinstance(v, float) else v

    if isinstance(table, pd.Series):
        return table.map(rnd)
    return table.apply(lambda col: col.map(rnd))


# One colour per kind of trace event, in every timeline (real runs, simulations, widgets).
TIMELINE_COLORS = {
    "draft": "tab:orange",      # the draft model drafting (its own lane in duo)
    "catch_up": "#ffbb78",      # duo's optional catch-up chain (light orange: still drafting)
    "verify": "tab:blue",       # a target forward over a drafted block (sps)
    "forward": "#6baed6",       # a target forward (ar; duo's block forward, overlapping the draft)
    "prefill": "#08519c",
    "sync": "tab:green",        # accept/reject bookkeeping
    "wait": "#d9d9d9",          # the target waiting for the draft
    "hf_generate": "tab:purple",
}
TIMELINE_LEGEND = ("draft", "verify", "forward", "sync", "wait")  # always in the legend


def timeline_handles(kinds=()) -> list:
    """Legend patches: every kind of `TIMELINE_LEGEND`, then any other kind in `kinds`."""
    from matplotlib.patches import Patch

    names = list(TIMELINE_LEGEND) + [k for k in dict.fromkeys(kinds) if k not in TIMELINE_LEGEND]
    return [Patch(color=TIMELINE_COLORS.get(k, "tab:grey"), label=k.replace("_", "-")) for k in names]


def plot_timeline(trace: pd.DataFrame, ax: plt.Axes | None = None, title: str = "",
                  legend: bool = True) -> plt.Axes:
    """Gantt chart of a `Generation.trace`: one lane per side, one bar per event, in ms, coloured
    by `TIMELINE_COLORS`; the legend (to the right) names every kind. For stacked timelines use
    `plot_timelines`, which draws one legend for the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.2))
    sides = list(dict.fromkeys(trace["side"]))
    for lane, side in enumerate(sides):
        rows = trace[trace["side"] == side]
        for kind, group in rows.groupby("kind"):
            spans = [(1000 * s, 1000 * (e - s)) for s, e in zip(group.start_s, group.end_s, strict=True)]
            ax.broken_barh(spans, (lane - 0.4, 0.8), color=TIMELINE_COLORS.get(kind, "tab:grey"))
    ax.set_yticks(range(len(sides)), sides)
    ax.set_ylim(-0.6, len(sides) - 0.4)
    ax.set_xlabel("time since the call began (ms)")
    if legend:
        legend_outside(ax, handles=timeline_handles(trace["kind"]), title="event")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_timelines(traces: dict[str, pd.DataFrame], width: float = 11, lane_height: float = 0.55,
                   title: str = ""):
    """Timelines stacked on a shared time axis, one panel per (title, trace), one legend with
    every kind: on top, or below when the figure has a `title`. Returns the figure."""
    lanes = [max(1, trace["side"].nunique()) for trace in traces.values()]
    fig, axes = plt.subplots(len(traces), 1, sharex=True, squeeze=False, layout="constrained",
                             figsize=(width, 0.9 + sum(0.55 + lane_height * n for n in lanes)),
                             gridspec_kw={"height_ratios": lanes})
    kinds = []
    for ax, (name, trace) in zip(axes[:, 0], traces.items(), strict=True):
        plot_timeline(trace, ax, name, legend=False)
        kinds += list(trace["kind"])
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")
    handles = timeline_handles(kinds)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.legend(handles=handles, loc="outside lower center" if title else "outside upper center",
               ncol=len(handles), fontsize=8, frameon=False)
    return fig


def plot_latency_profile(profile, axes=None):
    """Three panels: T_t(n) beside the draft's time for n tokens; prefill vs prompt length; the
    per-round costs side by side (one target step, one draft token, channel, sync)."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    n = range(1, len(profile.target_forward_ms) + 1)
    axes[0].plot(n, profile.target_forward_ms, label="target forward T_t(n)")
    axes[0].plot(n, [profile.draft_ms(k) for k in n], label="duo draft, n tokens")
    axes[0].plot(n, [k * profile.sps_draft_ms_per_token for k in n], "--", label="sps draft, n tokens")
    axes[0].set(xlabel="tokens n", ylabel="ms", title="verification vs drafting")
    axes[0].set_ylim(0, 2 * max(profile.target_forward_ms))
    axes[0].legend(fontsize=8, loc="upper left")
    pts = sorted(profile.prefill_ms.items())
    axes[1].plot([k for k, _ in pts], [v for _, v in pts], "o-")
    axes[1].set(xlabel="prompt tokens", ylabel="ms", title="prefill (time to first token)")
    costs = {"target step": profile.target_ms(1), "draft token (duo)": profile.draft_ms_per_token,
             "draft token (sps)": profile.sps_draft_ms_per_token, "channel": profile.channel_ms,
             "sync": profile.sync_ms}
    axes[2].barh(list(costs), list(costs.values()), color="tab:grey")
    axes[2].set(xlabel="ms", title="per-step costs")
    return axes


def plot_budget_curves(predicted: pd.DataFrame, measured: pd.DataFrame | None = None, ax=None,
                       title: str = ""):
    """Predicted tokens/s against the budget per method (lines), measured points on top."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for i, (method, g) in enumerate(predicted[predicted.method != "ar"].groupby("method")):
        ax.plot(g.budget, g.predicted_tokens_per_s, color=f"C{i}", label=f"{method} predicted")
        if measured is not None:
            m = measured[measured.method == method]
            ax.plot(m.budget, m.measured_tokens_per_s, "o", color=f"C{i}", label=f"{method} measured")
    ar = predicted[predicted.method == "ar"].predicted_tokens_per_s
    if len(ar):
        ax.axhline(float(ar.iloc[0]), color="black", lw=1, ls=":", label="ar predicted")
    ax.set(xlabel="budget γ", ylabel="tokens/s", title=title)
    legend_outside(ax)
    return ax


def per_prompt_speedups(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, label, prompt): speedup = AR wall / method wall and TTFT, both the
    median over repeats (the tidy table from duolab.lab.bench.run_benchmark)."""
    med = (raw.groupby(["task", "label", "method", "prompt_index"], sort=False)
           [["wall_time_s", "ttft_s", "tau"]].median().reset_index())
    ar = med[med.method == "ar"].set_index(["task", "prompt_index"]).wall_time_s
    med["speedup"] = [ar[(t, i)] / w for t, i, w in zip(med.task, med.prompt_index, med.wall_time_s,
                                                        strict=True)]
    med["ttft_ms"] = 1000 * med.ttft_s
    return med


# What notebook 05's figures show, by benchmark label: one hue each, SpS at its best γ per task.
SPS_BEST = "sps, best γ per task"
FIGURE_LABELS = {SPS_BEST: SPS_BEST, "pld": "pld", "hf": "hf (transformers assistant)",
                 "duo": "duo (default)", "duo:max_sequences=1": "duo, single chain",
                 "duo:budget=8,catch_up=0,outcomes=false": "duo, paper schedule (γ=8)"}
ABLATION_LABELS = {SPS_BEST: SPS_BEST, "duo": "duo (default)",
                   "sps, transformers drafter": "sps, transformers drafter (γ=3)",
                   "duo, transformers drafter": "duo, transformers drafter"}
SPREAD = "bars: median over prompts; whiskers: interquartile range over prompts"
# One colour per method shown, the same in every panel and figure.
METHOD_COLORS = dict(zip(["ar", *FIGURE_LABELS.values(), *list(ABLATION_LABELS.values())[2:]],
                         plt.get_cmap("tab10").colors, strict=False))


def with_best_sps(per_prompt: pd.DataFrame, best_budget: dict[str, int]) -> pd.DataFrame:
    """`per_prompt_speedups` rows with SpS at each task's best budget (`best_budget`: task -> γ,
    e.g. from bench.fair_table) relabelled SPS_BEST, and the other SpS budgets dropped."""
    sps = per_prompt.label.str.startswith("sps:budget=")
    best = sps & (per_prompt.label == per_prompt.task.map(lambda t: f"sps:budget={best_budget[t]}"))
    return pd.concat([per_prompt[~sps], per_prompt[best].assign(label=SPS_BEST)], ignore_index=True)


def plot_method_bars(table: pd.DataFrame, value: str, labels: dict[str, str], ax=None,
                     ylabel: str = "", title: str = "", legend: bool = True):
    """Bars per task and method (`labels`: benchmark label -> legend name, in legend order;
    colours from METHOD_COLORS): the median over prompts, whiskers the interquartile range
    (SPREAD says so under the axes)."""
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 3.8))
    shown = table[table.label.isin(labels)].assign(method_shown=lambda d: d.label.map(labels))
    order = [v for k, v in labels.items() if k in set(table.label)]
    sns.barplot(data=shown, x="task", y=value, hue="method_shown", hue_order=order,
                estimator="median", errorbar=("pi", 50), palette=METHOD_COLORS, ax=ax)
    ax.set(title=title, xlabel="", ylabel=ylabel)
    ax.text(0, -0.1, SPREAD, transform=ax.transAxes, fontsize=7, color="dimgrey", va="top")
    if legend:
        legend_outside(ax, title="method")
    else:
        ax.get_legend().remove()
    return ax


def regime_norm(*tables: pd.DataFrame):
    """One colour scale for every regime map drawn from `tables` (duo over SpS, white at 1.0)."""
    from matplotlib.colors import TwoSlopeNorm

    values = pd.concat([t.duo_over_sps for t in tables])
    return TwoSlopeNorm(vmin=min(0.95, float(values.min())), vcenter=1.0,
                        vmax=max(1.05, float(values.max())))


def plot_regime_map(table: pd.DataFrame, points: pd.DataFrame | None = None, axes=None,
                    norm=None, tasks: dict[float, str] | None = None):
    """Heat maps of duo's speedup over SpS (`duolab.timing.regime.regime_map`), one panel per alpha,
    titled with its task (`tasks`: alpha -> task name), with measured profiles (`points`: label,
    cost_ratio, slope) marked on every panel. Pass one `norm` (regime_norm) to maps that are
    compared, so one colour means one ratio in all of them."""
    import numpy as np

    alphas = sorted(table.alpha.unique())
    schedule = table.schedule.iloc[0] if "schedule" in table else "default"
    duo = "duo, paper schedule" if schedule == "paper" else "duo (defaults)"
    if axes is None:
        _, axes = plt.subplots(1, len(alphas), figsize=(4.6 * len(alphas), 4.4), squeeze=False,
                               constrained_layout=True)
        axes = axes[0]
    ratios, slopes = sorted(table.cost_ratio.unique()), sorted(table.slope.unique())
    norm = norm or regime_norm(table)
    for ax, a in zip(axes, alphas, strict=False):
        grid = (table[table.alpha == a].pivot(index="slope", columns="cost_ratio", values="duo_over_sps")
                .reindex(index=slopes, columns=ratios))
        x, y = np.log10(ratios), np.array(slopes)
        mesh = ax.pcolormesh(x, y, grid.values, cmap="RdBu", norm=norm, shading="nearest")
        levels = [v for v in (0.9, 1.0, 1.1, 1.2) if np.nanmin(grid.values) < v < np.nanmax(grid.values)]
        if levels:
            cs = ax.contour(x, y, grid.values, levels=levels, colors="k", linewidths=0.8)
            ax.clabel(cs, fmt="%.1fx", fontsize=8)
        if points is not None:
            for i, p in enumerate(points.itertuples()):
                ax.plot(np.log10(p.cost_ratio), p.slope, "k*", ms=11, mfc="gold")
                ax.annotate(p.label, (np.log10(p.cost_ratio), p.slope), xytext=(5, 5 + 9 * (i % 2)),
                            textcoords="offset points", fontsize=7)
        label_cost_ratios(ax, ratios[0], ratios[-1])
        ax.set_xlabel("draft step / target step  t_d / T_t(1)  (ms / ms)")
        ax.set_ylabel("verification slope  T_t(9) / T_t(1)  (ms / ms)")
        task = (tasks or {}).get(a)
        ax.set_title(f"{task}: α = {a:.2f}" if task else f"α = {a:.2f}", fontsize=10)
    plt.colorbar(mesh, ax=list(axes), label=f"{duo} tokens/s / SpS's best (or AR's)")
    return axes


def label_cost_ratios(ax: plt.Axes, lo: float, hi: float) -> None:
    """An x axis in log10 of t_d / T_t(1), ticked in plain ratios (1/100 ... 1) from lo to hi."""
    import numpy as np

    ticks = [r for r in (0.01, 0.03, 0.1, 0.3, 1.0) if lo <= r <= hi]
    ax.set_xticks(np.log10(ticks), [f"1/{round(1 / t)}" if t < 1 else "1" for t in ticks])
