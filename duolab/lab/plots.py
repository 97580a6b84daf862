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
    "retrieve": "#e377c2",      # prompt lookup's chains found for the round's tree (retrieval=)
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


# What notebook 05's figures show, by their name in the fair table (bench.fair_table): one hue each.
FIGURE_METHODS = {"sps best γ": "sps, best γ per task", "pld": "pld", "hf": "hf (transformers assistant)",
                  "duo (default)": "duo (default)", "duo single chain": "duo, single chain",
                  "duo paper schedule": "duo, paper schedule (γ=8)"}
SPREAD = ("bars: the fair table's value per task (speedup: AR's total time over the method's, on the "
          "task's prompts; TTFT: the median over prompts); whiskers: interquartile range over prompts")
# One colour per method shown, the same in every panel and figure.
METHOD_COLORS = dict(zip(["ar", *FIGURE_METHODS.values(), "sps, transformers drafter", "duo, transformers drafter"],
                         plt.get_cmap("tab10").colors, strict=False))
METHOD_COLORS.update({"sps with retrieval": "#17becf", "duo with retrieval": "#393b79"})  # (tab10 has ten)


def plot_fair_bars(fair: pd.DataFrame, value: str, methods: dict[str, str], ax=None, ylabel: str = "",
                   title: str = "", legend: bool = True, per_prompt: pd.DataFrame | None = None):
    """Bars per task and method, read from the fair table (`methods`: its name -> legend name, in
    legend order; `value`: "speedup" or "ttft_ms"), so a figure and its table show one number;
    whiskers: the interquartile range over prompts from `per_prompt` (bench.per_prompt_table)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 3.8))
    tasks = fair[fair.task != "median"].set_index("task")
    shown = {name: legend_name for name, legend_name in methods.items() if f"{name} {value}" in tasks}
    width = 0.8 / len(shown)
    for k, (name, legend_name) in enumerate(shown.items()):
        x = [i + (k - (len(shown) - 1) / 2) * width for i in range(len(tasks))]
        err = None
        if per_prompt is not None:
            rows = per_prompt[per_prompt.name == name].groupby("task")[value]
            q1, q3 = rows.quantile(0.25).reindex(tasks.index), rows.quantile(0.75).reindex(tasks.index)
            heights = tasks[f"{name} {value}"]
            err = [(heights - q1).clip(lower=0).fillna(0), (q3 - heights).clip(lower=0).fillna(0)]
        ax.bar(x, tasks[f"{name} {value}"], width, yerr=err, label=legend_name, capsize=2,
               color=METHOD_COLORS.get(legend_name), error_kw={"lw": 0.8})
    ax.set_xticks(range(len(tasks)), tasks.index)
    ax.set(title=title, xlabel="", ylabel=ylabel)
    ax.text(0, -0.1, SPREAD, transform=ax.transAxes, fontsize=7, color="dimgrey", va="top")
    if legend:
        legend_outside(ax, title="method")
    return ax


def bar_heights(ax) -> pd.DataFrame:
    """What a plot_fair_bars axes shows: one column per legend name, one row per task."""
    tasks = [t.get_text() for t in ax.get_xticklabels()]
    return pd.DataFrame({c.get_label(): [bar.get_height() for bar in c] for c in ax.containers
                         if hasattr(c, "patches")}, index=tasks)


def regime_norm(*tables: pd.DataFrame):
    """One colour scale for every regime map drawn from `tables` (duo over SpS, white at 1.0)."""
    from matplotlib.colors import TwoSlopeNorm

    values = pd.concat([t.duo_over_sps for t in tables])
    return TwoSlopeNorm(vmin=min(0.95, float(values.min())), vcenter=1.0,
                        vmax=max(1.05, float(values.max())))


def plot_regime_map(table: pd.DataFrame, points: pd.DataFrame | None = None, axes=None,
                    norm=None, tasks: dict[float, str] | None = None):
    """Heat maps of duo's speedup over SpS (`duolab.predict.regime.regime_map`), one panel per alpha,
    titled with its task (`tasks`: alpha -> task name), with measured profiles (`points`: label,
    cost_ratio, slope) marked on every panel as numbered stars (stars that would touch share one
    label, "1,4") and named in a legend under the panels. Pass one `norm` (regime_norm) to maps
    that are compared, so one colour means one ratio in all of them."""
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
            # Stars numbered 1..n (the legend below names them); stars that would touch share one label.
            span_x = np.log10(ratios[-1] / ratios[0]) or 1.0
            span_y = (slopes[-1] - slopes[0]) or 1.0
            groups: list[list] = []  # [x, y, numbers] per label
            for n, p in enumerate(points.itertuples(), start=1):
                px, py = np.log10(p.cost_ratio), p.slope
                ax.plot(px, py, "k*", ms=11, mfc="gold")
                near = next((g for g in groups if abs(g[0] - px) / span_x < 0.06 and abs(g[1] - py) / span_y < 0.06),
                            None)
                if near:
                    near[2].append(n)
                else:
                    groups.append([px, py, [n]])
            for px, py, numbers in groups:
                ax.annotate(",".join(map(str, numbers)), (px, py), xytext=(6, 4), textcoords="offset points",
                            fontsize=8, fontweight="bold",
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})
        label_cost_ratios(ax, ratios[0], ratios[-1])
        ax.set_xlabel("draft step / target step  t_d / T_t(1)  (ms / ms)")
        ax.set_ylabel("verification slope  T_t(9) / T_t(1)  (ms / ms)")
        task = (tasks or {}).get(a)
        ax.set_title(f"{task}: α = {a:.2f}" if task else f"α = {a:.2f}", fontsize=10)
    plt.colorbar(mesh, ax=list(axes), label=f"{duo} tokens/s / SpS's best (or AR's)")
    if points is not None and len(points):
        from matplotlib.lines import Line2D

        names = [Line2D([], [], ls="", marker=f"${n}$", ms=7, color="k",
                        label=f"{p.label}  ({p.cost_ratio:.3f}, {p.slope:.2f})")
                 for n, p in enumerate(points.itertuples(), start=1)]
        axes[0].figure.legend(handles=names, loc="outside lower center", ncols=min(len(names), 3), fontsize=8,
                              frameon=False, title="measured profiles (★): t_d / T_t(1), slope", title_fontsize=8)
    return axes


def label_cost_ratios(ax: plt.Axes, lo: float, hi: float) -> None:
    """An x axis in log10 of t_d / T_t(1), ticked in plain ratios (1/100 ... 1) from lo to hi."""
    import numpy as np

    ticks = [r for r in (0.01, 0.03, 0.1, 0.3, 1.0) if lo <= r <= hi]
    ax.set_xticks(np.log10(ticks), [f"1/{round(1 / t)}" if t < 1 else "1" for t in ticks])
