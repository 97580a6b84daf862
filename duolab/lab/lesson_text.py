"""A lesson's sentences, rendered from the data they cite.

A notebook's markdown keeps explanation; every measured number, comparison or ranking it states
comes from a function here, shown by a code cell as `IPython.display.Markdown(text)`, so a rerun
cannot leave the text behind (tests/test_computed_prose.py). One section per notebook; add yours.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from duolab.paths import DATA_DIR


def _span(lo: float, hi: float, unit: str = "x") -> str:
    """"0.91-1.09x", or "0.96x" where both ends print alike."""
    return f"{lo:.2f}{unit}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}{unit}"


def _and(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------------
# 06 · When does parallel drafting pay?

SCHEDULE_NAMES = {"paper": "the paper's schedule", "default": "duo's defaults"}
REGION_NAMES = {"left": "left of the band", "band": "in the band", "right": "right of the band"}


def outcome_hit_text(results: Path = DATA_DIR / "results") -> str:
    """What the regime map assumes for outcome chains (simulate.OUTCOME_HIT, one rate in every cell)
    beside what was measured: duo's outcome hit rate per task in the CPU fair run
    (methods_duo.csv) and its ceiling, the draft's best guesses' coverage of the target's
    corrections (outcome_coverage.csv)."""
    from duolab.methods.drafting import ALTERNATIVES
    from duolab.timing.simulate import OUTCOME_HIT

    rates = pd.read_csv(Path(results) / "methods_duo.csv").set_index("task")["duo hit_rate"]
    rates = rates.drop("median", errors="ignore")
    median, below = rates.median(), int((rates < OUTCOME_HIT).sum())
    text = (f"**Outcome chains in the map.** The simulator catches a rejection with a pre-drafted outcome "
            f"chain at one fixed rate in every cell, `simulate.OUTCOME_HIT` = {OUTCOME_HIT:.2f}. Measured "
            f"(the CPU fair run, `methods_duo.csv`, `duo hit_rate`: outcome hits per rejection), duo's rate "
            f"is {_span(rates.min(), rates.max(), '')} over the {len(rates)} tasks, median {median:.2f}: "
            f"below the simulator's on {below} of them")
    coverage_path = Path(results) / "outcome_coverage.csv"
    column = f"top {1 + ALTERNATIVES}"
    if coverage_path.exists() and column in (coverage := pd.read_csv(coverage_path).set_index("task")):
        top = coverage[column]
        text += (f". The draft's {1 + ALTERNATIVES} best tokens (its argmax and the `ALTERNATIVES` = "
                 f"{ALTERNATIVES} kept beside it) hold the target's correction in "
                 f"{_span(top.min(), top.max(), '')} of the rejections (`outcome_coverage.csv`), the "
                 f"ceiling of that rate")
    if OUTCOME_HIT > median:
        text += (". An outcome hit saves the catch-up a rejection costs, so with a rate above the measured "
                 "median the map of duo's defaults leans, on this count, towards duo.")
    else:
        text += ". The simulator's rate is not above the measured median, so on this count the map does not favour duo."
    return text


def regime_map_text(tables: dict[str, pd.DataFrame], points: pd.DataFrame, band: tuple[float, float],
                    tasks: dict[float, str] | None = None, base=None) -> str:
    """Notebook 06's reading of the regime maps (`tables`: schedule -> `regime.regime_map`
    table), all from the tables: per schedule and alpha, duo over SpS's best left of, in and
    right of `band` and the cells duo wins there; where each schedule peaks; the defaults against
    the paper's schedule cell by cell; where SpS's best is AR; the best cell; where the measured
    `points` (label, cost_ratio, slope) sit; and (with the `base` profile) its draft request's
    fixed cost."""
    from duolab.timing.regime import band_region, regime_spans

    table = pd.concat(tables.values(), ignore_index=True)
    spans = regime_spans(table, band)
    alphas = sorted(table.alpha.unique())
    schedules = [s for s in ("paper", "default") if s in set(table.schedule)]
    tasks = tasks or {}

    def alpha_name(a: float) -> str:
        return f"{a:.2f} ({tasks[a]})" if a in tasks else f"{a:.2f}"

    edges = {"left": f"< {band[0]:g}", "band": f"{band[0]:g} to < {band[1]:g}", "right": f"≥ {band[1]:g}"}
    regions = [r for r in REGION_NAMES if r in set(spans.index.get_level_values("region"))]
    lines = [f"duo over SpS's best, simulated, by region of draft cost t_d / T_t(1) (`BAND` = "
             f"{band[0]:g} to {band[1]:g}); \"won\": cells where the ratio prints above 1.00.", "",
             "| schedule | α | " + " | ".join(f"{REGION_NAMES[r]} ({edges[r]})" for r in regions) + " |",
             "|---|---|" + "---|" * len(regions)]
    for s in schedules:
        for a in alphas:
            cells = []
            for r in regions:
                if (s, a, r) in spans.index:
                    row = spans.loc[(s, a, r)]
                    cells.append(f"{_span(row['min'], row['max'])}, won {int(row.wins)} of {int(row.cells)}")
                else:
                    cells.append("—")
            lines.append(f"| {SCHEDULE_NAMES[s]} | {alpha_name(a)} | " + " | ".join(cells) + " |")
    lines.append("")

    for s in schedules:
        sub = spans.loc[s]
        peaks = {a: sub.loc[a]["max"].idxmax() for a in alphas}
        in_band = [a for a in alphas if peaks[a] == "band"]
        sentence = f"- **{SCHEDULE_NAMES[s]}**: highest "
        if in_band:
            heights = [f"{sub.loc[(a, 'band')]['max']:.2f}x" for a in in_band]
            sentence += f"in the band at α = {_and(f'{a:.2f}' for a in in_band)} ({_and(heights)})"
        others = [a for a in alphas if peaks[a] != "band"]
        if others:
            sentence += ("; " if in_band else "") + _and(
                f"{REGION_NAMES[peaks[a]]} at α = {a:.2f} ({sub.loc[(a, peaks[a])]['max']:.2f}x"
                + (f", against {sub.loc[(a, 'band')]['max']:.2f}x in it)" if (a, "band") in sub.index else ")")
                for a in others)
        outside = []
        for r in ("left", "right"):
            if r not in regions:
                continue
            part = sub.xs(r, level="region")
            wins, cells = int(part.wins.sum()), int(part.cells.sum())
            if wins:
                won_at = [a for a in part.index if part.loc[a].wins > 0]
                outside.append(f"{wins} of {cells} cells {REGION_NAMES[r]} (at α = "
                               f"{_and(f'{a:.2f}' for a in won_at)}; up to {part['max'].max():.2f}x)")
            else:
                outside.append(f"none of the {cells} cells {REGION_NAMES[r]} (at most {part['max'].max():.2f}x)")
        lines.append(sentence + ". Outside the band, ahead of SpS in " + _and(outside) + ".")

    if {"paper", "default"} <= set(schedules):
        keys = ["alpha", "cost_ratio", "slope"]
        both = tables["default"].merge(tables["paper"], on=keys, suffixes=("_default", "_paper"))
        both["region"] = band_region(both.cost_ratio, band).to_numpy()
        ahead = (both.duo_over_sps_default.round(2) > both.duo_over_sps_paper.round(2)).groupby(
            both.region, observed=True).agg(["sum", "size"])
        lines.append("- **duo's defaults against the paper's schedule**, cell by cell: ahead in "
                     + _and(f"{int(ahead.loc[r, 'sum'])} of {int(ahead.loc[r, 'size'])} cells {REGION_NAMES[r]}"
                            for r in regions if r in ahead.index) + ".")

    base_table = tables.get("default", table)
    ar = base_table[base_table.sps_budget.astype(str) == "0"]
    if len(ar):
        where = band_region(ar.cost_ratio, band).value_counts()
        parts = [f"{int(where[r])} {REGION_NAMES[r]}" for r in regions if where.get(r, 0)]
        runs = []
        for s in schedules:
            t = tables[s]
            on_ar = t[t.sps_budget.astype(str) == "0"].duo_speedup
            runs.append(f"{SCHEDULE_NAMES[s]} {_span(on_ar.min(), on_ar.max())}")
        lines.append(f"- **Where no SpS budget beats AR** (SpS's best is not to draft: {len(ar)} of "
                     f"{len(base_table)} cells, {_and(parts)}), duo over AR: " + "; ".join(runs) + ".")

    best = table.loc[table.duo_over_sps.idxmax()]
    lines.append(f"- **The best cell** of the maps: {best.duo_over_sps:.2f}x, {SCHEDULE_NAMES[best.schedule]} at "
                 f"t_d / T_t(1) = {best.cost_ratio:g}, slope {best.slope:g}, α = {alpha_name(best.alpha)}.")

    if "paper" in schedules and len(table.slope.unique()) > 1:
        paper = tables["paper"]
        peak_at = paper.loc[paper.groupby(["alpha", "slope"]).duo_over_sps.idxmax()]
        inside = int((band_region(peak_at.cost_ratio, band) == "band").sum())
        lines.append(f"- **The slope**: in {inside} of {len(peak_at)} rows of the paper's map (one slope at "
                     f"one α; slopes from {paper.slope.min():g}, flat, to {paper.slope.max():g}) its best cost "
                     "ratio lies in the band.")

    if points is not None and len(points):
        where = band_region(points.cost_ratio, band).to_numpy()
        parts = []
        for r in REGION_NAMES:
            here = points[where == r]
            names = _and(f"{p.label} ({p.cost_ratio:.3f})" for p in here.itertuples()) if len(here) else "none"
            parts.append(f"{REGION_NAMES[r]}: {names}")
        lines.append("- **The measured points** (t_d / T_t(1)): " + "; ".join(parts) + ".")

    if base is not None and base.draft_ms_per_token:
        lines.append(f"- **The base profile's draft request** costs a fixed {base.draft_overhead_ms:.2f} ms, "
                     f"{base.draft_overhead_ms / base.draft_ms_per_token:.2f} of its draft steps "
                     f"(t_d = {base.draft_ms_per_token:.2f} ms); every cell scales it with its t_d.")
    return "\n".join(lines)


def paper_comparison_text(results: Path = DATA_DIR / "results", earlier_h100: Path | None = None) -> str:
    """The row-by-row reading of `regime.paper_comparison`, from the same data: duo against SpS
    drafting on the GPU (the paper's baseline) and against a fair SpS (the same CPU-side drafter)."""
    from duolab.timing.regime import EARLIER_H100, earlier_h100_runs, fair_median

    runs = earlier_h100_runs(earlier_h100 or EARLIER_H100)
    duo, gpu_sps = runs["duo"], runs["gpu_sps"]
    fair = [("the previous pair's H100 run C", runs["duo_fair"][0] / runs["fsps"][0])] if runs["fsps"] else []
    fair += [("the shipped pair's H100 fair run", fair_median(results, "gpu")["duo / sps best"]),
             ("the shipped pair's fair run on this CPU", fair_median(results, "")["duo / sps best"])]
    behind = [name for name, v in fair if round(v, 2) < 1]
    lead = min(duo) / max(gpu_sps)
    text = (f"- **Against the paper's baseline.** On the H100 host (previous pair) SpS with the draft on the GPU "
            f"ran at {_span(min(gpu_sps), max(gpu_sps))} AR (its best budget, in the {len(gpu_sps)} runs that "
            f"had it) and duo at {_span(min(duo), max(duo))} (its best setting, {len(duo)} runs): duo's worst run "
            f"is {lead:.2f}x that SpS's best.\n"
            "- **Against a fair SpS** (the same cheap CPU-side drafter, each at its best setting), duo / SpS is "
            + _and(f"{v:.2f}x in {name}" for name, v in fair) + ": ")
    if len(behind) == len(fair):
        text += "SpS is ahead in all of them."
    elif behind:
        text += f"SpS is ahead in {_and(behind)}."
    else:
        text += "duo is not behind in any of them."
    return text


def recommend_text(rec, checks: pd.DataFrame, profile_label: str | None = None,
                   prompts_per_task: int | None = None) -> str:
    """This run's `recommend` answer (`rec`) beside the committed check for this CPU
    (recommend_checks.csv, run "cpu"), and why the two can differ."""
    row = checks.set_index("run").loc["cpu"]
    here = "duo (budget chosen per round)" if rec.method == "duo" else f"sps γ={rec.budget}"
    inputs = ", ".join(x for x in (f"profile `{profile_label}`" if profile_label else "",
                                   f"{prompts_per_task} prompts per task" if prompts_per_task else "") if x)
    text = (f"This run's `recommend` ({inputs}) picks **{here}**, predicted {rec.speedup:.2f}x AR. The committed "
            f"check for this CPU (`recommend_checks.csv`, run `cpu`: profile `{row.profile}`, the fair run's "
            f"prompts and the SpS budgets it measured) picked **{row.pick}**, predicted "
            f"{row['predicted speedup']:.2f}x; that fair run measured it at {row['pick measured speedup']:.2f}x AR, "
            f"{row.gap:.1%} below its best setting, {row['best measured']} "
            f"({row['best measured speedup']:.2f}x). ")
    if row.pick == here:
        return text + "Both pick the same setting."
    reason = ("Each predicts from its own inputs: this cell from this run's profile and prompts, the check "
              "from its committed profile and the fair run's prompts, so the α per task and the costs differ")
    if row.pick.split()[0] == rec.method == "sps":
        theirs = int(row.pick.split("=")[1])
        column = f"sps γ={theirs}"
        if column in rec.table:
            mine, other = rec.table.loc["median", f"sps γ={rec.budget}"], rec.table.loc["median", column]
            reason += (f"; in this run's prediction γ = {rec.budget} is {mine:.2f}x AR and γ = {theirs} is "
                       f"{other:.2f}x, {mine / other - 1:.1%} apart")
        return text + f"Both pick SpS and differ in γ. {reason}."
    return text + f"They pick different methods. {reason}."


def recap_numbers_text(tables: dict[str, pd.DataFrame], points: pd.DataFrame, band: tuple[float, float],
                       results: Path = DATA_DIR / "results") -> str:
    """The numbers behind notebook 06's recap, from the regime maps, the measured points and the
    committed fair runs."""
    from duolab.timing.regime import band_region, fair_median, regime_spans

    table = pd.concat(tables.values(), ignore_index=True)
    spans = regime_spans(table, band)
    top = max(table.alpha.unique())
    lines = ["### The numbers behind the recap"]
    peaks = []
    for s in ("default", "paper"):
        if (s, top, "band") not in spans.index:
            continue
        sub = spans.loc[(s, top)]
        outside = sub.drop("band")["max"].max() if len(sub) > 1 else float("nan")
        peaks.append(f"{SCHEDULE_NAMES[s]} up to {sub.loc['band', 'max']:.2f}x in the band, "
                     f"{outside:.2f}x outside it")
    if peaks:
        lines.append(f"- At the highest α of the map ({top:.2f}), duo over SpS's best: " + "; ".join(peaks) + ".")
    for r in ("left", "right"):
        if r not in set(spans.index.get_level_values("region")):
            continue
        part = spans.xs(r, level="region")
        text = f"- {REGION_NAMES[r].capitalize()}, over all α: " + ", ".join(
            f"{SCHEDULE_NAMES[s]} at {_span(part.loc[s]['min'].min(), part.loc[s]['max'].max())} SpS's best"
            for s in ("default", "paper") if s in part.index.get_level_values(0))
        if r == "right" and "default" in part.index.get_level_values(0):
            d = part.loc["default"]
            text += (f"; SpS's best is AR in {int(d.sps_ar.sum())} of {int(d.cells.sum())} cells, and duo's "
                     f"defaults run at {_span(d.duo_ar_min.min(), d.duo_ar_max.max())} AR's speed")
        lines.append(text + ".")
    cpu, gpu = fair_median(results, ""), fair_median(results, "gpu")
    where = dict(zip(points.label, band_region(points.cost_ratio, band).to_numpy(), strict=True))
    for label in ("cpu-2core", "h100-fp32"):
        if label in where:
            ratio = float(points.set_index("label").cost_ratio[label])
            lines.append(f"- `{label}` sits {REGION_NAMES[where[label]]} (t_d / T_t(1) = {ratio:.3f}).")
    lines.append(f"- duo / SpS's best in the fair runs, median over tasks: {cpu['duo / sps best']:.2f}x on this CPU "
                 f"(`methods_fair.csv`), {gpu['duo / sps best']:.2f}x on the H100 host (`gpu/methods_fair.csv`).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# 02 · Latency profiling

def _device_kind(profile) -> str:
    return "GPU" if str(profile.target_device).startswith("cuda") else "CPU"


def verification_growth(profiles: dict, n: int = 8) -> dict[str, dict[str, float]]:
    """T_t(n) / T_t(1) of each profile (`{name: LatencyProfile}`), by device ("CPU", "GPU")."""
    out: dict[str, dict[str, float]] = {}
    for name, p in profiles.items():
        out.setdefault(_device_kind(p), {})[name] = p.target_ms(n) / p.target_ms(1)
    return out


def verification_growth_text(profiles: dict, n: int = 8, this=None) -> str:
    """How much dearer verifying n tokens is than one, T_t(n) / T_t(1), in every profile of
    `profiles` ({name: LatencyProfile}, e.g. `latency_profile.measured_profiles()`) by device and
    target runner, and (`this`: (name, profile)) in this run's."""
    parts = []
    for kind, ratios in verification_growth(profiles, n).items():
        listed = ", ".join(f"{name}{_runner_note(profiles[name])} {r:.2f}x"
                           for name, r in sorted(ratios.items(), key=lambda kv: kv[1]))
        parts.append(f"{_span(min(ratios.values()), max(ratios.values()))} in the {len(ratios)} "
                     f"{kind} profile{'s' * (len(ratios) > 1)} ({listed})")
    text = f"Verifying {n} tokens costs T_t({n}) / T_t(1) = " + "; ".join(parts)
    if this is not None:
        name, p = this
        text += f". This run's profile ({name}): {p.target_ms(n) / p.target_ms(1):.2f}x"
    return text + "."


def _runner_note(profile) -> str:
    runner = profile.notes.get("target_runner", "transformers")
    return "" if runner == "transformers" else f" ({runner} target runner)"


def profiles_title(profiles: dict, n: int = 64) -> str:
    """The profiles figure's title: T_t(n) / T_t(1) on the CPU profiles and on the GPU ones."""
    spans = [f"{_span(min(r.values()), max(r.values()))} on the {kind} profile{'s' * (len(r) > 1)}"
             for kind, r in verification_growth(profiles, n).items()]
    return f"T_t({n}) / T_t(1): " + "; ".join(spans)


def runner_text(runner_times: pd.DataFrame, target_params: int, draft_params: int) -> str:
    """Notebook 02's runner table (columns `T_t(1) ms` and `draft ms/token`, one row per runner) in
    words: what the runner alone changes, against what the size alone changes under one runner."""
    t, d = runner_times["T_t(1) ms"], runner_times["draft ms/token"]
    by_runner = (t.max() / t.min(), d.max() / d.min())
    by_size = {r: t[r] / d[r] for r in runner_times.index if pd.notna(t[r]) and pd.notna(d[r])}
    size_lo, size_hi = min(by_size.values()), max(by_size.values())
    verdict = ("less than the size does" if max(by_runner) < size_lo else
               "more than the size does" if min(by_runner) > size_hi else "about as much as the size does")
    return (f"The runner alone makes one target step {by_runner[0]:.1f}x faster (the {t.idxmin()} runner "
            f"against the {t.idxmax()} one) and one draft token {by_runner[1]:.1f}x faster (the "
            f"{d.idxmin()} runner against the {d.idxmax()} one). The size alone, the target's "
            f"{target_params / draft_params:.1f}x the draft's parameters, makes one target step cost "
            + _and(f"{v:.1f}x a draft token under the {r} runner" for r, v in by_size.items())
            + f": here the runner matters {verdict}.")


def remeasured_text(passes: pd.DataFrame, profile_values: dict) -> str:
    """Quantities that notebook 02's runner table measured again after the profile had: per
    (column, runner) of `profile_values` ({(column, runner): (the profile's value, how the profile
    measured it)}), the profile's value against this cell's median and its range over `passes`
    (one row per interleaved pass, columns (column, runner)), and whether it lies inside that range."""
    parts = []
    for (column, runner), (value, how) in profile_values.items():
        col = passes[(column, runner)]
        quantity = f"T_t(1) ({runner} runner)" if column.startswith("T_t(1)") else f"one {runner} draft token"
        inside = col.min() <= value <= col.max()
        parts.append(f"{quantity}: {value:.2f} ms in the profile ({how}), {col.median():.2f} ms here (median; "
                     f"{col.min():.2f}–{col.max():.2f} ms over this cell's {len(col)} passes), "
                     f"{'inside' if inside else 'outside'} that range")
    return ("**Measured twice.** The profile above timed two of these. " + "; ".join(parts)[0].upper()
            + "; ".join(parts)[1:] + ". The same work takes different times at different moments on this "
            "machine (the spread over the passes), so the runners are compared only within this table, "
            "whose four numbers come from the same interleaved passes.")


def latency_recap_text(profile, n: int = 64) -> str:
    """Notebook 02's numbers behind its recap: verifying n tokens at once against n AR steps, and
    the cost ratio t_d / T_t(1), from `profile`."""
    t1, tn, td = profile.target_ms(1), profile.target_ms(n), profile.draft_ms_per_token
    return (f"**In numbers** (this run's profile): verifying {n} tokens in one forward takes "
            f"{tn:.1f} ms, {tn / (n * t1):.2f} of the {n * t1:.0f} ms that {n} AR steps of "
            f"T_t(1) = {t1:.1f} ms take; duo's draft token costs t_d = {td:.2f} ms, a cost ratio "
            f"t_d / T_t(1) = {td / t1:.3f}.")


# ---------------------------------------------------------------------------------------------
# 03 · Choosing the budget

def _budgets(values) -> str:
    return "γ = " + _and(int(v) for v in values)


def _idle_sides(idle: pd.DataFrame, tie: float = 0.005) -> list[str]:
    """Per row of `idle`: "draft", "target" (the side that idles more) or "even"."""
    gap = idle.idle_fraction_draft - idle.idle_fraction_target
    return ["even" if abs(g) < tie else "draft" if g > 0 else "target" for g in gap]


def idle_title(idle: pd.DataFrame) -> str:
    """Short: at which budgets each side idles more (`idle`: budget, idle_fraction_target,
    idle_fraction_draft, one row per budget, ascending)."""
    sides = _idle_sides(idle)
    if len(set(sides)) == 1:
        return {"draft": "the draft idles more at every γ", "target": "the target idles more at every γ",
                "even": "both sides idle alike at every γ"}[sides[0]]
    parts = [f"the {side} idles more at {_budgets(idle.budget[[s == side for s in sides]])}"
             for side in ("draft", "target") if side in sides]
    return "; ".join(parts) or "both sides idle alike"


def idle_text(idle: pd.DataFrame) -> str:
    """The idle table in words: which side idles more at which budget, by how much at the extremes,
    whether there is one crossover (and where the last side holds on to the sweep's end), and, with
    the columns `catch_up_fraction` and `empty_start_fraction`, how much of the target's idle time
    is its wait for catch-up chains."""
    idle = idle.sort_values("budget").reset_index(drop=True)
    sides = _idle_sides(idle)
    t, d, b = idle.idle_fraction_target, idle.idle_fraction_draft, idle.budget
    sentences = []
    for side, mine, other in (("draft", d, t), ("target", t, d)):
        rows = [i for i, s in enumerate(sides) if s == side]
        if rows:
            top = max(rows, key=lambda i: mine[i] - other[i])
            where = ("every γ of the sweep" if len(rows) == len(sides) and len(rows) > 1 else _budgets(b[rows]))
            sentences.append(f"the {side} idles more than the {'target' if side == 'draft' else 'draft'} at "
                             f"{where} (most at γ = {b[top]}: {mine[top]:.2f} of the wall time "
                             f"against {other[top]:.2f})")
    text = "In the simulation " + "; ".join(sentences) + "." if sentences else "Both sides idle alike."
    text += (f" At the smallest γ of the sweep ({b.iloc[0]}) the draft idles {d.iloc[0]:.2f} and the target "
             f"{t.iloc[0]:.2f}; at the largest ({b.iloc[-1]}), {d.iloc[-1]:.2f} and {t.iloc[-1]:.2f}.")
    changes = [i for i in range(1, len(sides)) if sides[i] != sides[i - 1]]
    if len(changes) == 1:
        i = changes[0]
        text += (f" One crossover, between γ = {b[i - 1]} and γ = {b[i]}: the {sides[i - 1]} idles more "
                 f"below it, the {sides[i]} from there on.")
    elif changes:
        last = changes[-1]
        text += f" The side that idles more changes {len(changes)} times along the sweep: no single crossover"
        text += (f"; from γ = {b[last]} to the sweep's end the {sides[last]} idles more." if len(sides) - last > 1
                 else ".")
    if {"catch_up_fraction", "empty_start_fraction"} <= set(idle.columns):
        share = idle.catch_up_fraction / t.where(t > 0)
        text += (f" The target's idle time is {'mostly' if share.min() >= 0.5 else 'partly'} its wait for "
                 f"catch-up chains: {_span(idle.empty_start_fraction.min(), idle.empty_start_fraction.max(), '')} "
                 f"of the rounds start with nothing to verify, and drafting their catch-up chains takes "
                 f"{_span(idle.catch_up_fraction.min(), idle.catch_up_fraction.max(), '')} of the wall time, "
                 f"{_span(share.min(), share.max(), '')} of the target's idle time.")
    return text


def budget_recap_text(eq: dict, table: pd.DataFrame, predicted_best: int) -> str:
    """Notebook 03's numbers behind its recap: the equal-time rule on the shipped profile (`eq`,
    `budget.equal_time_check`), the prediction's error over the measured sweep (`table`: method,
    budget, predicted/measured tokens/s, error), and duo's predicted best γ against its measured best."""
    rule = (f"the equal-time rule has a solution, γ = {eq['budget']}" if eq["has_solution"] else
            f"drafting and verifying never meet on γ = 1..{eq['grid_end']}, so the equal-time rule falls "
            f"back to the smallest gap, γ = {eq['budget']}")
    err = table.error
    over = int((err > 0).sum())
    duo = table[table.method == "duo"].set_index("budget").measured_tokens_per_s
    best = int(duo.idxmax())
    at = duo.get(predicted_best)
    hit = (f"duo's predicted best γ ({predicted_best}) is its measured best" if best == predicted_best else
           f"duo's predicted best γ ({predicted_best}) reaches {at / duo.max():.2f} of its measured best "
           f"(γ = {best})" if at is not None else
           f"duo's predicted best γ ({predicted_best}) was not measured; its measured best is γ = {best}")
    return (f"**In numbers.** On the shipped profile {rule}. Over the {len(table)} measured configurations "
            f"the prediction is off by {abs(err).min():.0%}–{abs(err).max():.0%} "
            f"(median {abs(err).median():.0%}), above the measurement in {over} of them; {hit}.")


# ---------------------------------------------------------------------------------------------
# 04 · Draft trees

def teaching_text(picks: dict[str, int]) -> str:
    """Which of the three kinds of round (draft_trees.TEACHING) this generation shows, and in which
    round, from `teaching_rounds`; the kinds it lacks are named."""
    from duolab.lab.draft_trees import TEACHING

    shown = [f"{TEACHING[k]} in round {r}" for k, r in picks.items()]
    missing = [TEACHING[k] for k in TEACHING if k not in picks]
    text = f"This generation shows {_and(shown)}" if shown else "This generation shows none of the three kinds"
    if missing:
        text += f"; no round of it shows {_and(missing)}"
    return text + "."


def hedging_text(mean_k: pd.Series, prompts_per_task: int) -> str:
    """Tasks ranked by the drafter's mean k per round (`mean_k`: task -> mean k)."""
    ranked = mean_k.sort_values(ascending=False)
    return (f"Mean k per round over {prompts_per_task} prompt{'s' * (prompts_per_task > 1)} per task, most to "
            f"least hedging: " + ", ".join(f"{task} {k:.2f}" for task, k in ranked.items()) + ".")
