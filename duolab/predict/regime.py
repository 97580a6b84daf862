"""When does parallel drafting pay? duo's speedup over SpS across hardware regimes, simulated.

A regime is two numbers read off a latency profile:
  * cost ratio  t_d / T_t(1): one draft token against one target step;
  * verification slope  T_t(9) / T_t(1): how much a block of 8 drafts costs the target
    (1.0 = flat, as on a GPU; 1.5-2.5 on a CPU, where every token is compute).
`regime_map` simulates duo and SpS (equal drafters: the same t_d; SpS at its best budget) on
synthetic profiles over a grid of both, and `regime_point` places a measured profile on it. duo
runs one of SCHEDULES: its defaults (per-round budget and catch-up, outcome chains caught at
simulate.OUTCOME_HIT) or the paper's (verify whatever was drafted, at its best fixed budget).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from duolab.artefacts import EARLIER_PAIRS_DIR
from duolab.latency_profile import LatencyProfile
from duolab.methods.round_policy import PAPER_SCHEDULE
from duolab.paths import DATA_DIR
from duolab.predict.simulate import expected_throughput

# One grid for both: SpS at its best of these, and duo's paper schedule at its best of these.
# (Until 2026-12-01 SpS stopped at 12 while duo went to 24, and at alpha 0.95 SpS's best sat at
# the grid's edge in 22 of 54 cells.)
BUDGETS = (1, 2, 3, 4, 6, 8, 12, 16, 24)
SCHEDULES = {"default": {}, "paper": {k: v for k, v in PAPER_SCHEDULE.items() if k != "budget"}}


def regime_point(profile: LatencyProfile) -> tuple[float, float]:
    """(t_d / T_t(1), T_t(9) / T_t(1)) of a measured profile; t_d is the duo worker's draft step."""
    t1 = profile.target_ms(1)
    return profile.draft_ms_per_token / t1, profile.target_ms(9) / t1


def synthetic_profile(base: LatencyProfile, cost_ratio: float, slope: float) -> LatencyProfile:
    """`base` with T_t(n) linear in n through T_t(1) and T_t(9) = slope * T_t(1), and both drafters
    (duo's worker and SpS's in-process draft) at cost_ratio * T_t(1) per token. The draft's fixed
    cost per request scales with its step; channel, sync and prefill stay as measured."""
    if cost_ratio <= 0 or slope < 1:
        raise ValueError(f"need cost_ratio > 0 and slope >= 1, got {cost_ratio}, {slope}")
    t1 = base.target_ms(1)
    t_d = cost_ratio * t1
    overhead = base.draft_overhead_ms * t_d / base.draft_ms_per_token if base.draft_ms_per_token else 0.0
    curve = [t1 * (1 + (slope - 1) * (n - 1) / 8) for n in range(1, len(base.target_forward_ms) + 1)]
    return replace(base, target_forward_ms=curve, draft_ms_per_token=t_d, sps_draft_ms_per_token=t_d,
                   draft_overhead_ms=overhead, ar_step_ms=t1, notes={"synthetic": [cost_ratio, slope]})


def best_throughput(profile: LatencyProfile, method: str, alpha: float, budgets, runs: int = 8,
                    **kwargs) -> tuple[int, float]:
    """(best budget, its tokens/s) for one method on one profile."""
    rates = {b: expected_throughput(profile, method, alpha, b, runs=runs, **kwargs) for b in budgets}
    best = max(rates, key=rates.get)
    return best, rates[best]


def duo_over_sps(profile: LatencyProfile, alpha: float, runs: int = 8, new_tokens: int = 96,
                 schedule: str = "default") -> dict:
    """SpS's best (budget 0: AR, where no budget beats it) and duo's (`schedule`, see SCHEDULES)
    simulated tokens/s on one profile, and their ratio. duo's defaults choose the budget per
    round ("auto")."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    kw = {"new_tokens": new_tokens}
    ar = expected_throughput(profile, "ar", alpha, 1, runs=1, **kw)
    sps_b, sps = best_throughput(profile, "sps", alpha, BUDGETS, runs, **kw)
    if ar > sps:  # where no budget pays, SpS's best setting is not to draft (budget 0: AR), as duo's policy does
        sps_b, sps = 0, ar
    if schedule == "paper":
        duo_b, duo = best_throughput(profile, "duo", alpha, BUDGETS, runs, **SCHEDULES["paper"], **kw)
    else:
        duo_b, duo = "auto", expected_throughput(profile, "duo", alpha, "auto", runs=runs, **kw)
    return {"sps_budget": sps_b, "duo_budget": duo_b, "sps_tokens_per_s": sps, "duo_tokens_per_s": duo,
            "sps_speedup": sps / ar, "duo_speedup": duo / ar, "duo_over_sps": duo / sps}


def regime_map(base: LatencyProfile, alphas, cost_ratios, slopes, runs: int = 8,
               progress: bool = True, schedule: str = "default") -> pd.DataFrame:
    """One row per (alpha, cost ratio, slope) with `duo_over_sps` and each method's budget."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    from tqdm.auto import tqdm

    grid = [(a, r, s) for a in alphas for r in cost_ratios for s in slopes]
    rows = []
    for a, r, s in tqdm(grid, desc="regime map", disable=not progress):
        res = duo_over_sps(synthetic_profile(base, r, s), a, runs, schedule=schedule)
        rows.append({"schedule": schedule, "alpha": a, "cost_ratio": r, "slope": s, **res})
    return pd.DataFrame(rows)


# The draft-cost band where parallel drafting can pay (t_d / T_t(1)); see notebook 06.
BAND = (0.1, 0.4)


REGIONS = ("left", "band", "right")


def band_region(cost_ratio, band: tuple[float, float] = BAND) -> pd.Series:
    """"left", "band" or "right" of `band` of draft cost, per cost ratio (the band holds its lower
    edge, not its upper one)."""
    return pd.cut(pd.Series(cost_ratio), [0, band[0], band[1], float("inf")], right=False, labels=list(REGIONS))


def regime_spans(table: pd.DataFrame, band: tuple[float, float] = BAND) -> pd.DataFrame:
    """Per (schedule, alpha, region of `band`): duo over SpS's best, min and max; the cells; the
    cells duo wins (its ratio above 1.00 at two decimals, as printed); the cells where SpS's best
    is AR (budget 0); duo's speedup over AR, min and max."""
    cells = table.assign(region=band_region(table.cost_ratio, band), win=table.duo_over_sps.round(2) > 1,
                         sps_ar=table.sps_budget.astype(str) == "0")
    return (cells.groupby(["schedule", "alpha", "region"], observed=True)
            .agg(min=("duo_over_sps", "min"), max=("duo_over_sps", "max"), cells=("duo_over_sps", "size"),
                 wins=("win", "sum"), sps_ar=("sps_ar", "sum"), duo_ar_min=("duo_speedup", "min"),
                 duo_ar_max=("duo_speedup", "max")))


def regime_summary(table: pd.DataFrame, band: tuple[float, float] = BAND) -> pd.DataFrame:
    """duo over SpS's best, min and max, per schedule and alpha, left of, in and right of `band`
    of draft cost: the numbers notebook 06's text and the README cite."""
    where = pd.cut(table.cost_ratio, [0, band[0], band[1], float("inf")], right=False,
                   labels=[f"left (< {band[0]})", f"band ({band[0]}-{band[1]})", f"right (>= {band[1]})"])
    spans = (table.assign(region=where, alpha=table.alpha.round(3))
             .groupby(["schedule", "alpha", "region"], observed=True).duo_over_sps.agg(["min", "max"]))
    text = [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(spans["min"], spans["max"], strict=True)]
    return pd.Series(text, index=spans.index).unstack("region")


# The paper's claims (arXiv 2503.00784), against its baseline: SpS with the draft on the GPU.
PAPER_CLAIM = {"up to": 2.61, "mean, Vicuna-7B": 1.58, "mean, Llama-2-7B": 2.57, "TTFT vs SpS": 0.83}
EARLIER_H100 = EARLIER_PAIRS_DIR / "stage2-target-h100" / "h100-host.json"


def _span(values) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}x" if round(lo, 2) == round(hi, 2) else f"{lo:.2f}-{hi:.2f}x"


def earlier_h100_runs(earlier_h100: Path = EARLIER_H100) -> dict[str, list[float]]:
    """The previous pair's H100 host runs (`earlier_h100`'s notes), speedup over AR per run: duo at
    its best setting ("duo"), SpS drafting on the GPU at its best budget ("gpu_sps", the runs that
    have it), and, in the runs with a fair SpS (drafting in process with duo's runner), that SpS
    ("fsps") and duo ("duo_fair") at their best."""
    runs = json.loads(earlier_h100.read_text())["notes"]["runs"].values()
    duo = [max(v for k, v in r["speedup_vs_ar"].items() if k.startswith("duo")) for r in runs]
    gpu_sps = [max(v for k, v in r["speedup_vs_ar"].items() if k.endswith("gpu_draft") and k.startswith("sps"))
               for r in runs if any(k.endswith("gpu_draft") for k in r["speedup_vs_ar"])]
    fair_runs = [r for r in runs if any(k.startswith("fsps") for k in r["speedup_vs_ar"])]
    fsps = [max(v for k, v in r["speedup_vs_ar"].items() if k.startswith("fsps")) for r in fair_runs]
    duo_fair = [max(v for k, v in r["speedup_vs_ar"].items() if k.startswith("duo")) for r in fair_runs]
    return {"duo": duo, "gpu_sps": gpu_sps, "duo_fair": duo_fair, "fsps": fsps}


def fair_median(results: Path = DATA_DIR / "results", folder: str = "") -> pd.Series:
    """The "median" row of a fair run's methods_fair.csv (`folder` under `results`: "" for this
    CPU, "gpu" for the H100 host): each column's median over the tasks."""
    return pd.read_csv(Path(results) / folder / "methods_fair.csv").set_index("task").loc["median"]


def paper_comparison(results: Path = DATA_DIR / "results", earlier_h100: Path = EARLIER_H100) -> pd.DataFrame:
    """The paper's claim beside ours, one row per (where, baseline): duo and the baseline over AR
    and duo over the baseline. Ours come from the committed runs: the previous pair's H100 host
    runs (`earlier_h100`'s notes; duo at its best setting per run, SpS drafting on the GPU, and
    SpS drafting in process with duo's runner), and the shipped pair's fair runs (median over
    tasks, SpS at its best γ per task) on the H100 host and this CPU."""
    runs = earlier_h100_runs(earlier_h100)
    duo, gpu_sps, duo_fair, fsps = runs["duo"], runs["gpu_sps"], runs["duo_fair"], runs["fsps"]
    rows = [
        ("the paper: 7B targets on a GPU, small drafts on its CPU", "SpS, draft on the GPU",
         f"up to {PAPER_CLAIM['up to']}x; mean {PAPER_CLAIM['mean, Vicuna-7B']}x (Vicuna-7B), "
         f"{PAPER_CLAIM['mean, Llama-2-7B']}x (Llama-2-7B)", "", "", f"TTFT {PAPER_CLAIM['TTFT vs SpS']:.0%} of SpS's"),
        ("H100 host, previous pair, 3 runs", "SpS, draft on the GPU (the paper's baseline)", _span(duo),
         _span(gpu_sps), f"{min(duo) / max(gpu_sps):.2f}x or more",
         "duo at its best setting per run; duo also drafts on the host's CPU"),
        ("H100 host, previous pair, run C", "SpS, draft in process with duo's runner (fair)", _span(duo_fair),
         _span(fsps), f"{duo_fair[0] / fsps[0]:.2f}x",
         "each at its best setting; duo drafts in a process of its own, on its own core"),
    ]
    for where, folder in (("H100 host, shipped pair, fair run", "gpu"), ("this CPU, shipped pair, fair run", "")):
        median = fair_median(results, folder)
        rows.append((where, "SpS at its best γ per task, same drafter (fair)", f"{median['duo (default) speedup']:.2f}x",
                     f"{median['sps best γ speedup']:.2f}x", f"{median['duo / sps best']:.2f}x",
                     f"median over 7 tasks; duo uses one core more than SpS; duo's TTFT "
                     f"{median['duo ttft / sps best']:.0%} of SpS's"))
    return pd.DataFrame(rows, columns=["where", "baseline", "duo over AR", "baseline over AR",
                                       "duo over baseline", "note"])


def worker_speed_what_if(profile: LatencyProfile, alphas, worker_ms_per_token: float, runs: int = 8,
                         new_tokens: int = 96) -> pd.DataFrame:
    """duo over SpS's best on `profile` as measured and with duo's worker drafting at
    `worker_ms_per_token` (say, SpS's in-process speed, had the worker the same threads): one row
    per α."""
    faster = replace(profile, draft_ms_per_token=worker_ms_per_token)
    rows = []
    for alpha in alphas:
        before, after = (duo_over_sps(p, alpha, runs, new_tokens) for p in (profile, faster))
        rows.append({"alpha": alpha, "worker t_d ms": profile.draft_ms_per_token, "duo / sps": before["duo_over_sps"],
                     "faster worker t_d ms": worker_ms_per_token, "duo / sps, faster worker": after["duo_over_sps"],
                     "sps best γ": before["sps_budget"], "duo speedup, faster worker": after["duo_speedup"],
                     "sps best speedup": before["sps_speedup"]})
    return pd.DataFrame(rows)
