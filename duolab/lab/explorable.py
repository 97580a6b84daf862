"""The regime map as an explorable (the notebook "when parallel drafting pays").

`RegimeExplorer` has three sliders: the draft's cost ratio t_d / T_t(1), the verification slope
T_t(9) / T_t(1) and the acceptance α. Each move simulates duo and SpS on the base profile made
synthetic with those two numbers (duolab.predict.regime: `synthetic_profile`, `duo_over_sps`; about 10 ms
at runs=4) and replots the setting on the (cost ratio, slope) plane, over the precomputed regime
map at the nearest α when one is given. "profile this machine" measures a quick profile (or calls
the `profiler` given), marks it on the plane and moves the sliders to it. Two challenges guide the
exploration; the status line says which are met.

Like duolab.lab.widgets, the controls are attributes and every redraw goes through `redraw`, so a test
(or a notebook cell) drives it by setting `explorer.slope.value = 2.0`. Nothing here imports torch
until the button measures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from html import escape

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from duolab.arguments import is_number, is_whole
from duolab.lab.plots import label_cost_ratios, plot_regime_map, regime_norm
from duolab.latency_profile import LatencyProfile
from duolab.predict.regime import SCHEDULES, duo_over_sps, regime_point, synthetic_profile

COST_RATIO_RANGE = (0.01, 1.0)  # t_d / T_t(1): the regime notebook's map's range
SLOPE_RANGE = (1.0, 3.0)  # T_t(9) / T_t(1): flat (a GPU) to steep (a small CPU)
ALPHA_RANGE = (0.3, 0.95)
THIS_MACHINE = "this machine"
TABLE_COLUMNS = {"alpha", "cost_ratio", "slope", "duo_over_sps"}

CHALLENGES = {  # name -> what to find
    "duo_wins_by_10pct": "find a setting where duo beats SpS by 10% or more (duo/SpS ≥ 1.10)",
    "duo_loses_at_high_alpha": "…and one where duo loses to SpS (duo/SpS < 1.0) at α ≥ 0.8",
}


def challenge_checks(result: dict) -> dict[str, bool]:
    """Which challenges one computed setting (`RegimeExplorer.result`) meets."""
    ratio = result["duo_over_sps"]
    return {"duo_wins_by_10pct": ratio >= 1.10,
            "duo_loses_at_high_alpha": ratio < 1.0 and result["alpha"] >= 0.8 - 1e-9}


def control_options(width: str = "440px") -> dict:
    """Control options that keep a whole description ("slope T_t(9)/T_t(1)") visible."""
    return {"style": {"description_width": "initial"}, "layout": W.Layout(width=width)}


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def _on_grid(value: float, slider) -> float:
    """`value` clamped to the slider's range and snapped to its steps, as the browser's slider
    would snap it (and send the snapped value back, a change no learner made)."""
    if isinstance(slider, W.FloatLogSlider):
        exponent = _clamp(math.log10(value), (slider.min, slider.max))
        return 10 ** round(slider.min + round((exponent - slider.min) / slider.step) * slider.step, 10)
    value = _clamp(value, (slider.min, slider.max))
    return round(slider.min + round((value - slider.min) / slider.step) * slider.step, 10)


def regime_points(points) -> dict[str, tuple[float, float]]:
    """label -> (cost ratio, slope) from {label: LatencyProfile or (cost ratio, slope)} or from a
    DataFrame with columns label, cost_ratio, slope (the regime notebook's `points`)."""
    if points is None:
        return {}
    if isinstance(points, pd.DataFrame):
        if not {"label", "cost_ratio", "slope"} <= set(points.columns):
            raise ValueError("points: a DataFrame needs the columns label, cost_ratio and slope")
        return {str(p.label): (float(p.cost_ratio), float(p.slope)) for p in points.itertuples()}
    if not isinstance(points, dict):
        raise ValueError(f"points must be a dict of label -> LatencyProfile, got {type(points).__name__}")
    found = {}
    for label, point in points.items():
        if isinstance(point, LatencyProfile):
            found[str(label)] = regime_point(point)
        elif isinstance(point, (tuple, list)) and len(point) == 2:
            found[str(label)] = (float(point[0]), float(point[1]))
        else:
            raise ValueError(f"points[{label!r}] must be a LatencyProfile or (cost_ratio, slope), "
                             f"got {type(point).__name__}")
    return found


def _checked_table(table, schedule: str) -> pd.DataFrame | None:
    """The regime-map rows of `schedule` (all rows when the table has no schedule column)."""
    if table is None:
        return None
    if not isinstance(table, pd.DataFrame) or not TABLE_COLUMNS <= set(table.columns):
        raise ValueError(f"table must be a DataFrame with columns {sorted(TABLE_COLUMNS)} "
                         "(duolab.predict.regime.regime_map)")
    if "schedule" in table.columns:
        table = table[table.schedule == schedule]
    if table.empty:
        raise ValueError(f"table has no rows (of schedule {schedule!r})")
    return table


def _check_numbers(alpha, runs, new_tokens, schedule, profiler) -> None:
    if not is_number(alpha) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    for name, value in (("runs", runs), ("new_tokens", new_tokens)):
        if not is_whole(value, 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    if profiler is not None and not callable(profiler):
        raise ValueError(f"profiler must be a callable returning a LatencyProfile, got {profiler!r}")


def quick_profiler(pair) -> Callable[[], LatencyProfile]:
    """The button's default: a quick profile of `pair` on this machine (seconds)."""
    def measure() -> LatencyProfile:
        from duolab.measure.profiling import profile_pair  # torch and the worker: only when asked

        return profile_pair(pair, quick=True)
    return measure


def _ratio_ticks(ax) -> None:
    """x is log10 of the cost ratio (as in plot_regime_map): label it in plain ratios."""
    label_cost_ratios(ax, *COST_RATIO_RANGE)
    lo, hi = np.log10(COST_RATIO_RANGE)
    ax.set_xlim(lo - 0.05, hi + 0.05)
    ax.set_ylim(SLOPE_RANGE[0] - 0.05, SLOPE_RANGE[1] + 0.05)
    ax.set_xlabel("draft step / target step  t_d / T_t(1)")
    ax.set_ylabel("verification slope  T_t(9) / T_t(1)")


class RegimeExplorer:
    """Sliders for the draft's cost ratio, the verification slope and α; each move simulates duo
    (its defaults, or `schedule`) and SpS at its best budget on `base` made synthetic with those
    numbers, and shows both speedups over AR, SpS's best budget and duo/SpS, with the setting on
    the (cost ratio, slope) plane.

    `table`: a `duolab.predict.regime.regime_map` table, drawn as the background at the α nearest the
    slider's. `points`: measured profiles to mark ({label: LatencyProfile}, or the regime notebook's
    points DataFrame). `profiler`: called by "profile this machine" (default, given `pair`: a quick
    `profile_pair`); without either the button is disabled. `runs` and `new_tokens` go to
    `duo_over_sps`. The sliders start at `base`'s own regime point (on the sliders' steps), which
    counts for no challenge: a challenge is met by another setting (moved to by slider or button)."""

    def __init__(self, base: LatencyProfile, pair=None, table: pd.DataFrame | None = None,
                 points=None, alpha: float = 0.8, profiler: Callable[[], LatencyProfile] | None = None,
                 runs: int = 4, new_tokens: int = 96, schedule: str = "default"):
        if not isinstance(base, LatencyProfile):
            raise ValueError(f"base must be a LatencyProfile, got {type(base).__name__}")
        _check_numbers(alpha, runs, new_tokens, schedule, profiler)
        self.base, self.runs, self.new_tokens, self.schedule = base, runs, new_tokens, schedule
        self.table = _checked_table(table, schedule)
        self.norm = regime_norm(self.table) if self.table is not None else None
        self.points = regime_points(points)  # label -> (cost ratio, slope), "this machine" added
        self.profiler = profiler or (quick_profiler(pair) if pair is not None else None)
        self.machine_profile: LatencyProfile | None = None  # what the button measured
        self._build_controls(alpha)
        self.result: dict = {}  # the last setting and duo_over_sps's numbers for it
        self.challenges = dict.fromkeys(CHALLENGES, False)  # name -> met yet
        self.met_at: dict[str, dict] = {}  # name -> the result that met it
        self.plotted: list[str] = []  # the labels on the last plot
        self.map_alpha: float | None = None  # the table's α drawn behind the last plot
        self.redraw_s = 0.0  # how long the last redraw took (simulation and plot)
        self._holding = False
        self._start = (self.cost_ratio.value, self.slope.value, self.alpha.value)
        for control in (self.cost_ratio, self.slope, self.alpha):
            control.observe(self._on_change, names="value")
        self.profile_button.on_click(self._on_profile_click)
        self.redraw()

    def _build_controls(self, alpha: float) -> None:
        ratio, slope = regime_point(self.base)
        lo, hi = np.log10(COST_RATIO_RANGE)
        self.cost_ratio = W.FloatLogSlider(COST_RATIO_RANGE[1], base=10, min=lo, max=hi, step=0.02,
                                           readout_format=".3f", description="t_d / T_t(1)", **control_options())
        self.slope = W.FloatSlider(SLOPE_RANGE[0], min=SLOPE_RANGE[0], max=SLOPE_RANGE[1], step=0.05,
                                   description="slope T_t(9)/T_t(1)", **control_options())
        self.alpha = W.FloatSlider(alpha, min=min(ALPHA_RANGE[0], alpha), max=max(ALPHA_RANGE[1], alpha),
                                   step=0.01, description="α", **control_options())
        self.cost_ratio.value = _on_grid(ratio, self.cost_ratio)
        self.slope.value = _on_grid(slope, self.slope)
        self.profile_button = W.Button(
            description="profile this machine", layout=W.Layout(width="220px"),
            disabled=self.profiler is None,
            tooltip="measure a quick latency profile here and move the sliders to it"
            if self.profiler else "needs pair= or profiler=")
        tasks = "".join(f"<li>{escape(text)}</li>" for text in CHALLENGES.values())
        self.challenge = W.HTML(f"<b>Challenges</b><ol style='margin:0'>{tasks}</ol>")
        self.readout, self.status, self.output = W.HTML(), W.HTML(), W.Output()
        self.widget = W.VBox([self.cost_ratio, self.slope, self.alpha, self.profile_button,
                              self.readout, self.challenge, self.status, self.output])

    def _on_change(self, change) -> None:
        if not self._holding:
            self.redraw()

    def at_start(self) -> bool:
        """The sliders are at their starting setting (within half a step of each: where a browser's
        snapping leaves them)."""
        controls = (self.cost_ratio, self.slope, self.alpha)
        now = [math.log10(self.cost_ratio.value), self.slope.value, self.alpha.value]
        start = [math.log10(self._start[0]), *self._start[1:]]
        return all(abs(a - b) <= c.step / 2 for a, b, c in zip(now, start, controls, strict=True))

    def move_to(self, cost_ratio: float, slope: float, alpha: float | None = None) -> None:
        """Set the sliders (clamped to their ranges, on their steps) and redraw once."""
        self._holding = True
        try:
            self.cost_ratio.value = _on_grid(cost_ratio, self.cost_ratio)
            self.slope.value = _on_grid(slope, self.slope)
            if alpha is not None:
                self.alpha.value = _on_grid(alpha, self.alpha)
        finally:
            self._holding = False
        self.redraw()

    def profile_machine(self) -> LatencyProfile:
        """Measure (call the profiler), mark the profile as "this machine", move the sliders to it."""
        if self.profiler is None:
            raise ValueError("no profiler: construct RegimeExplorer with pair= or profiler=")
        profile = self.profiler()
        if not isinstance(profile, LatencyProfile):
            raise ValueError(f"the profiler returned {type(profile).__name__}, not a LatencyProfile")
        self.machine_profile = profile
        self.points[THIS_MACHINE] = regime_point(profile)
        self.move_to(*self.points[THIS_MACHINE])
        return profile

    def _on_profile_click(self, _button) -> None:
        # a click's exception would vanish into the kernel's log: say it on the status line
        self.profile_button.disabled = True
        self.status.value = "<i>profiling this machine… (seconds)</i>"
        try:
            self.profile_machine()
        except Exception as e:
            self.status.value = f"<b style='color:#c62828'>profiling failed:</b> {escape(repr(e))}"
        finally:
            self.profile_button.disabled = False

    def redraw(self) -> None:
        start = time.perf_counter()
        setting = {"cost_ratio": self.cost_ratio.value, "slope": self.slope.value,
                   "alpha": self.alpha.value}
        profile = synthetic_profile(self.base, setting["cost_ratio"], setting["slope"])
        self.result = {**setting, **duo_over_sps(profile, setting["alpha"], self.runs,
                                                 self.new_tokens, self.schedule)}
        if not self.at_start():  # the starting point is the base machine's: not a find
            for name, met in challenge_checks(self.result).items():
                if met and not self.challenges[name]:
                    self.challenges[name], self.met_at[name] = True, dict(self.result)
        self.readout.value = self._readout_html()
        self.status.value = self._status_html()
        self._plot()
        self.redraw_s = time.perf_counter() - start

    def _readout_html(self) -> str:
        r = self.result
        budget = "0 (AR: no budget pays)" if r["sps_budget"] == 0 else r["sps_budget"]
        colour = "#1565c0" if r["duo_over_sps"] >= 1 else "#c62828"
        mine = self.points.get(THIS_MACHINE)
        measured = (f"<br>{THIS_MACHINE} (measured): t_d/T_t(1) = {mine[0]:.3f}, slope {mine[1]:.2f}"
                    if mine else "")
        return (f"simulated over AR: duo <b>{r['duo_speedup']:.2f}x</b>, SpS <b>{r['sps_speedup']:.2f}x</b>"
                f" (SpS's best γ = {budget}); duo/SpS = <b style='color:{colour}'>"
                f"{r['duo_over_sps']:.3f}</b> <small>({self.runs} runs of {self.new_tokens} tokens)</small>"
                f"{measured}")

    def _status_html(self) -> str:
        lines = []
        for i, name in enumerate(CHALLENGES, 1):
            at = self.met_at.get(name)
            if at:
                lines.append(f"{i}. ✓ met at t_d/T_t(1) = {at['cost_ratio']:.3f}, slope {at['slope']:.2f}, "
                             f"α = {at['alpha']:.2f} (duo/SpS = {at['duo_over_sps']:.3f})")
            else:
                lines.append(f"{i}. not yet")
        if self.at_start():
            lines.append("this is the starting point (the base profile's own), which counts for none: "
                         "move a slider")
        return "<b>status</b>: " + "; ".join(lines)

    def _plot(self) -> None:
        self.output.clear_output(wait=True)
        with self.output:
            fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
            title = self._background(ax)
            self.plotted = self._mark_points(ax)
            _ratio_ticks(ax)
            ax.set_title(title, fontsize=9)
            plt.show()
            plt.close(fig)

    def _background(self, ax) -> str:
        """The regime map at the table's α nearest the slider's; returns the plot's title."""
        alpha = self.alpha.value
        if self.table is None:
            ax.grid(alpha=0.3)
            return f"α = {alpha:.2f} (no regime map given: the setting alone)"
        shown = float(min(self.table.alpha.unique(), key=lambda a: abs(a - alpha)))
        plot_regime_map(self.table[self.table.alpha == shown], axes=[ax], norm=self.norm)
        self.map_alpha = shown
        return f"regime map at α = {shown:.2f} (nearest to α = {alpha:.2f}); colour: duo/SpS"

    def _mark_points(self, ax) -> list[str]:
        """Measured profiles (stars), this machine (diamond) and the sliders' setting (circle)."""
        labels = []
        for i, (label, (ratio, slope)) in enumerate(self.points.items()):
            mine = label == THIS_MACHINE
            x, y = math.log10(_clamp(ratio, COST_RATIO_RANGE)), _clamp(slope, SLOPE_RANGE)
            ax.plot(x, y, "D" if mine else "*", ms=9 if mine else 11, mec="k",
                    mfc="limegreen" if mine else "gold")
            ax.annotate(label, (x, y), xytext=(5, 5 + 9 * (i % 2)), textcoords="offset points",
                        fontsize=7, weight="bold" if mine else "normal")
            labels.append(label)
        r = self.result
        x = math.log10(r["cost_ratio"])
        ax.plot(x, r["slope"], "o", ms=10, mec="k", mfc="crimson")
        ax.annotate(f"here: duo/SpS {r['duo_over_sps']:.2f}", (x, r["slope"]), xytext=(6, -12),
                    textcoords="offset points", fontsize=8, color="crimson")
        return [*labels, "here"]

    def _ipython_display_(self):
        display(self.widget)
