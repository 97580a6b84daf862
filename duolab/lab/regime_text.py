"""Notebook 06's sentences (when parallel drafting pays), rendered from the regime maps, the
committed runs and recommend's checks they cite (see duolab.lab.lesson_text)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from duolab.lab.lesson_text import join_and, span
from duolab.paths import DATA_DIR

SCHEDULE_NAMES = {"paper": "the paper's schedule", "default": "duo's defaults"}
REGION_NAMES = {"left": "left of the band", "band": "in the band", "right": "right of the band"}


def outcome_hit_text(results: Path = DATA_DIR / "results") -> str:
    """What the regime map assumes for outcome chains (simulate.OUTCOME_HIT, one rate in every cell)
    beside what was measured: duo's outcome hit rate per task in the CPU fair run
    (methods_duo.csv) and its ceiling, the draft's best guesses' coverage of the target's
    corrections (outcome_coverage.csv)."""
    from duolab.methods.drafting import ALTERNATIVES
    from duolab.predict.simulate import OUTCOME_HIT

    rates = pd.read_csv(Path(results) / "methods_duo.csv").set_index("task")["duo hit_rate"]
    rates = rates.drop("median", errors="ignore")
    median, below = rates.median(), int((rates < OUTCOME_HIT).sum())
    text = (f"**Outcome chains in the map.** The simulator catches a rejection with a pre-drafted outcome "
            f"chain at one fixed rate in every cell, `simulate.OUTCOME_HIT` = {OUTCOME_HIT:.2f}. Measured "
            f"(the CPU fair run, `methods_duo.csv`, `duo hit_rate`: outcome hits per rejection), duo's rate "
            f"is {span(rates.min(), rates.max(), '')} over the {len(rates)} tasks, median {median:.2f}: "
            f"below the simulator's on {below} of them")
    coverage_path = Path(results) / "outcome_coverage.csv"
    column = f"top {1 + ALTERNATIVES}"
    if coverage_path.exists() and column in (coverage := pd.read_csv(coverage_path).set_index("task")):
        top = coverage[column]
        text += (f". The draft's {1 + ALTERNATIVES} best tokens (its argmax and the `ALTERNATIVES` = "
                 f"{ALTERNATIVES} kept beside it) hold the target's correction in "
                 f"{span(top.min(), top.max(), '')} of the rejections (`outcome_coverage.csv`), the "
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
    from duolab.predict.regime import band_region, regime_spans

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
                    cells.append(f"{span(row['min'], row['max'])}, won {int(row.wins)} of {int(row.cells)}")
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
            sentence += f"in the band at α = {join_and(f'{a:.2f}' for a in in_band)} ({join_and(heights)})"
        others = [a for a in alphas if peaks[a] != "band"]
        if others:
            sentence += ("; " if in_band else "") + join_and(
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
                               f"{join_and(f'{a:.2f}' for a in won_at)}; up to {part['max'].max():.2f}x)")
            else:
                outside.append(f"none of the {cells} cells {REGION_NAMES[r]} (at most {part['max'].max():.2f}x)")
        lines.append(sentence + ". Outside the band, ahead of SpS in " + join_and(outside) + ".")

    if {"paper", "default"} <= set(schedules):
        keys = ["alpha", "cost_ratio", "slope"]
        both = tables["default"].merge(tables["paper"], on=keys, suffixes=("_default", "_paper"))
        both["region"] = band_region(both.cost_ratio, band).to_numpy()
        ahead = (both.duo_over_sps_default.round(2) > both.duo_over_sps_paper.round(2)).groupby(
            both.region, observed=True).agg(["sum", "size"])
        lines.append("- **duo's defaults against the paper's schedule**, cell by cell: ahead in "
                     + join_and(f"{int(ahead.loc[r, 'sum'])} of {int(ahead.loc[r, 'size'])} cells {REGION_NAMES[r]}"
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
            runs.append(f"{SCHEDULE_NAMES[s]} {span(on_ar.min(), on_ar.max())}")
        lines.append(f"- **Where no SpS budget beats AR** (SpS's best is not to draft: {len(ar)} of "
                     f"{len(base_table)} cells, {join_and(parts)}), duo over AR: " + "; ".join(runs) + ".")

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
            names = join_and(f"{p.label} ({p.cost_ratio:.3f})" for p in here.itertuples()) if len(here) else "none"
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
    from duolab.predict.regime import EARLIER_H100, earlier_h100_runs, fair_median

    runs = earlier_h100_runs(earlier_h100 or EARLIER_H100)
    duo, gpu_sps = runs["duo"], runs["gpu_sps"]
    fair = [("the previous pair's H100 run C", runs["duo_fair"][0] / runs["fsps"][0])] if runs["fsps"] else []
    fair += [("the shipped pair's H100 fair run", fair_median(results, "gpu")["duo / sps best"]),
             ("the shipped pair's fair run on this CPU", fair_median(results, "")["duo / sps best"])]
    behind = [name for name, v in fair if round(v, 2) < 1]
    lead = min(duo) / max(gpu_sps)
    text = (f"- **Against the paper's baseline.** On the H100 host (previous pair) SpS with the draft on the GPU "
            f"ran at {span(min(gpu_sps), max(gpu_sps))} AR (its best budget, in the {len(gpu_sps)} runs that "
            f"had it) and duo at {span(min(duo), max(duo))} (its best setting, {len(duo)} runs): duo's worst run "
            f"is {lead:.2f}x that SpS's best.\n"
            "- **Against a fair SpS** (the same cheap CPU-side drafter, each at its best setting), duo / SpS is "
            + join_and(f"{v:.2f}x in {name}" for name, v in fair) + ": ")
    if len(behind) == len(fair):
        text += "SpS is ahead in all of them."
    elif behind:
        text += f"SpS is ahead in {join_and(behind)}."
    else:
        text += "duo is not behind in any of them."
    return text


def recommend_text(rec, checks: pd.DataFrame, profile_label: str | None = None,
                   prompts_per_task: int | None = None) -> str:
    """This run's `recommend` answer (`rec`) beside the committed check for this CPU
    (recommend_checks.csv, run "cpu"), and why the two can differ."""
    row = checks.set_index("run").loc["cpu"]
    here = "duo (budget chosen per round)" if rec.setting == "duo" else rec.setting
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
    if row.pick.split()[0] == rec.setting.split()[0] == "sps":
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
    from duolab.predict.regime import band_region, fair_median, regime_spans

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
            f"{SCHEDULE_NAMES[s]} at {span(part.loc[s]['min'].min(), part.loc[s]['max'].max())} SpS's best"
            for s in ("default", "paper") if s in part.index.get_level_values(0))
        if r == "right" and "default" in part.index.get_level_values(0):
            d = part.loc["default"]
            text += (f"; SpS's best is AR in {int(d.sps_ar.sum())} of {int(d.cells.sum())} cells, and duo's "
                     f"defaults run at {span(d.duo_ar_min.min(), d.duo_ar_max.max())} AR's speed")
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
