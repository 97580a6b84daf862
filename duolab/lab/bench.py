"""Benchmarks: tasks x methods sweeps into one tidy table, and the per-task summary of it.

Methods are compared in the same run, round-robin (the order rotates per prompt and repeat, so
no method always runs first or after a warm cache), with the median over repeats per prompt.
Metrics: speedup = AR wall time / method wall time on the same prompts; tau = new tokens /
target forwards (notebook 00's notation table). Two checks hold a run against the timing model:
`duo_report` (duo's rounds and the simulator's prediction per task, scripts/bench_methods.py)
and `budget_check` (predicted vs measured tokens/s per budget, scripts/bench_budget.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
from tqdm.auto import tqdm

from duolab.generation import generate
from duolab.latency_profile import LatencyProfile, Workload
from duolab.measure.profiling import measure_workload
from duolab.methods import METHODS
from duolab.methods.round_policy import PAPER_SCHEDULE
from duolab.models import Pair
from duolab.predict.budget import (
    choose_budget,
    equal_time_budget,
    ideal_speedup,
    predict,
    predicted_tokens_per_s,
    schedule_bounds,
    sps_ideal_speedup,
)
from duolab.prompts import TASKS, load_prompts, spread_prompts

STAT_COLUMNS = ["wall_time_s", "ttft_s", "new_tokens", "tokens_per_s", "target_forwards",
                "draft_tokens", "accepted_tokens", "tau", "acceptance_rate", "mean_k",
                "idle_fraction_target", "idle_fraction_draft", "worker_failed",
                "empty_start_fraction", "outcome_hit_rate", "mean_budget", "draft_threads", "caller_threads",
                "rounds", "retrieved_tokens", "retrieved_accepted", "retrieval_rounds", "retrieval_branch_rounds"]

PAPER_DUO = "duo:budget=8,catch_up=0,outcomes=false"  # the paper's schedule, for before/after
# duo's labels in a fair run, each with the schedule the simulator replays for it (duo_report)
DUO_SCHEDULES = {"duo": {"budget": "auto", "catch_up": "auto", "outcomes": True},
                 "duo:max_sequences=1": {"budget": "auto", "catch_up": "auto", "outcomes": True},
                 PAPER_DUO: PAPER_SCHEDULE}
FAIR_SPS_BUDGETS = (1, 2, 3, 4, 6, 8, 12, 16)
FAIR = ["ar", *(f"sps:budget={b}" for b in FAIR_SPS_BUDGETS), "pld", "hf", "duo", "duo:max_sequences=1", PAPER_DUO]
# The fair-baseline set: every method that drafts uses the pair's one draft runner; SpS at each
# budget of FAIR_SPS_BUDGETS (fair_table keeps its best per task; the grid reaches past every
# task's best, from translation's 1-2 to mt_bench's 12-16); the slow-drafter ablation runs
# on a second pair with draft_runner="transformers": SpS (budget 3) and duo (defaults) under the
# labels SLOW_SPS and SLOW_DUO.
SLOW_SPS, SLOW_DUO = "sps, transformers drafter", "duo, transformers drafter"
# The paper's SpS baseline on a GPU host: the draft on the GPU too (labels "<GPU_DRAFT_SPS>:budget=N")
GPU_DRAFT_SPS = "sps, draft on the GPU"
# benchmark label -> its name in the fair table's columns ("<name> speedup", "<name> ttft_ms")
SPS_BEST = "sps best γ"
FAIR_NAMES = {"ar": "ar", SLOW_SPS: SLOW_SPS, SLOW_DUO: SLOW_DUO, "pld": "pld", "hf": "hf",
              "duo": "duo (default)", "duo:max_sequences=1": "duo single chain", PAPER_DUO: "duo paper schedule"}


def fair_methods(slow_pair: Pair | None = None, slow_sps_budget: int = 3) -> dict[str, dict]:
    """The FAIR labels as run_benchmark methods, plus SLOW_SPS and SLOW_DUO on `slow_pair`."""
    methods = parse_method_specs(FAIR)
    if slow_pair is not None:
        methods[SLOW_SPS] = {"method": "sps", "budget": slow_sps_budget, "pair": slow_pair}
        methods[SLOW_DUO] = {"method": "duo", "pair": slow_pair}
    return methods


def fair_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per task: speedup and TTFT of each method, with SpS (the pair's draft runner) at its best
    budget; SpS with the draft on the GPU (the paper's baseline), when it ran, at its best too."""
    tasks = summary[summary.task != "median"]
    fast_sps = tasks[tasks.label.str.startswith("sps:budget=") & ~tasks.label.str.contains("retrieval=")]
    best = fast_sps.loc[fast_sps.groupby("task").tokens_per_s.idxmax()].assign(
        label=lambda d: "sps best γ (" + d.label.str.replace("sps:budget=", "γ=") + ")")
    gpu_sps = tasks[tasks.label.str.startswith(GPU_DRAFT_SPS)]
    gpu_best = gpu_sps.loc[gpu_sps.groupby("task").tokens_per_s.idxmax()] if len(gpu_sps) else None
    cols = {k: v for k, v in FAIR_NAMES.items() if k in set(tasks.label)}
    rows = []
    for task in tasks.task.unique():
        b = best[best.task == task].iloc[0]
        row = {"task": task, "sps_best_budget": int(b.label.split("γ=")[1].rstrip(")"))}
        for label, name in [("__best__", SPS_BEST), *cols.items()]:
            r = b if label == "__best__" else tasks[(tasks.task == task) & (tasks.label == label)].iloc[0]
            row[f"{name} speedup"], row[f"{name} ttft_ms"] = r.speedup, r.ttft_ms
            row[f"{name} draft threads"] = r.get("draft_threads", float("nan"))
        row["duo / sps best"] = row["duo (default) speedup"] / row["sps best γ speedup"]
        row["duo ttft / sps best"] = row["duo (default) ttft_ms"] / row["sps best γ ttft_ms"]
        if gpu_best is not None:
            g = gpu_best[gpu_best.task == task].iloc[0]
            row[f"{GPU_DRAFT_SPS} best γ"] = int(g.label.rsplit("=", 1)[1])
            row[f"{GPU_DRAFT_SPS} speedup"], row[f"{GPU_DRAFT_SPS} ttft_ms"] = g.speedup, g.ttft_ms
            row[f"duo / {GPU_DRAFT_SPS}"] = row["duo (default) speedup"] / g.speedup
            row[f"duo ttft / {GPU_DRAFT_SPS}"] = row["duo (default) ttft_ms"] / g.ttft_ms
        if SLOW_DUO in cols:
            row["duo / sps, transformers drafters"] = row[f"{SLOW_DUO} speedup"] / row[f"{SLOW_SPS} speedup"]
        rows.append(row)
    table = pd.DataFrame(rows)
    med = table.drop(columns="task").median().to_dict()
    return pd.concat([table, pd.DataFrame([{"task": "median", **med}])], ignore_index=True)


def parse_method_specs(specs: list[str]) -> dict[str, dict]:
    """'duo:budget=6,max_sequences=1' -> {'duo:budget=6,max_sequences=1': {'method': 'duo', ...}}."""
    out = {}
    for spec in specs:
        name, _, rest = spec.partition(":")
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r} in {spec!r}; known: {', '.join(METHODS)}")
        options: dict = {"method": name}
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"option {item!r} in {spec!r} is not key=value")
            literal = value[:1].isdigit() or value[:1] == "-" or value in ("true", "false")
            options[key] = json.loads(value) if literal else value
        out[spec] = options
    return out


def run_benchmark(pair: Pair, methods: dict[str, dict], tasks=TASKS, n_prompts: int = 5,
                  max_new_tokens: int = 128, repeats: int = 3, generate_options: dict | None = None,
                  progress: bool = True, after_task: Callable[[str], None] | None = None,
                  spread: bool = False) -> pd.DataFrame:
    """One row per (task, prompt, repeat, method label) with every stat in STAT_COLUMNS.

    `methods` maps a label to generate()'s keyword arguments (at least `method`), plus optionally
    `pair`: another Pair to run that label on (an ablation with other runners, same weights).
    Each label runs once before timing starts, so worker start-up and lazy allocations are not
    measured. `after_task(task)` runs after each task's last prompt (outside the timed calls; the
    benchmark script measures a profile there, so its simulator sees the machine as the run did).
    Prompts: each task's first `n_prompts`, or with `spread` its `spread_prompts` (both ends).
    """
    if "ar" not in {o["method"] for o in methods.values()}:
        raise ValueError("methods must include an 'ar' entry: speedups are measured against it")
    if n_prompts < 1 or repeats < 1 or max_new_tokens < 1:
        raise ValueError("n_prompts, repeats and max_new_tokens must each be at least 1")
    common = {"max_new_tokens": max_new_tokens, **(generate_options or {})}
    labels = list(methods)
    pairs = {label: methods[label].get("pair", pair) for label in labels}
    kwargs = {label: {k: v for k, v in methods[label].items() if k != "pair"} for label in labels}
    warm = pair.as_prompt(load_prompts(tasks[0], 1)[0])  # prompts are asked in the chat template if any
    for label in labels:
        generate(pairs[label], warm, **common, **kwargs[label])

    choose = spread_prompts if spread else load_prompts
    work = [(t, i, pair.as_prompt(p)) for t in tasks for i, p in enumerate(choose(t, n_prompts))]
    rows = []
    for n, (task, index, prompt) in enumerate(tqdm(work, desc="benchmark", disable=not progress)):
        reference = None
        for r in range(repeats):
            shift = (n + r) % len(labels)
            for label in labels[shift:] + labels[:shift]:
                g = generate(pairs[label], prompt, **common, **kwargs[label])
                if methods[label]["method"] == "ar" and reference is None:
                    reference = g.token_ids
                rows.append({"task": task, "prompt_index": index, "repeat": r, "label": label,
                             "method": methods[label]["method"], "token_ids": g.token_ids,
                             "draft_runner": g.stats.get("draft_runner"),
                             **{c: g.stats.get(c) for c in STAT_COLUMNS}})
        for row in rows[-repeats * len(labels):]:
            row["matches_ar"] = row.pop("token_ids") == reference
        if after_task is not None and (n + 1 == len(work) or work[n + 1][0] != task):
            after_task(task)
    return pd.DataFrame(rows)


def _share(g: pd.DataFrame, column: str) -> float:
    """Total `column` over total rounds (NaN where the run has no such column or values)."""
    if column not in g or g[column].isna().all():
        return float("nan")
    return g[column].sum() / g["rounds"].sum()


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Per task and method: the median over repeats per prompt, then totals over prompts.

    tokens_per_s = total new tokens / total wall time; speedup = AR's total wall time / the
    method's on the same prompts; ttft_s is the median over prompts. A final task "median" row
    per method holds the median over tasks.
    """
    per_prompt = (raw.groupby(["task", "label", "method", "prompt_index"], sort=False)
                  .median(numeric_only=True).reset_index())
    rows = []
    for (task, label, method), g in per_prompt.groupby(["task", "label", "method"], sort=False):
        ar = per_prompt[(per_prompt.task == task) & (per_prompt.method == "ar")]
        rows.append({
            "task": task, "label": label, "method": method, "prompts": len(g),
            "tokens_per_s": g.new_tokens.sum() / g.wall_time_s.sum(),
            "speedup": ar.wall_time_s.sum() / g.wall_time_s.sum(),
            "ttft_ms": 1000 * g.ttft_s.median(),
            "tau": g.new_tokens.sum() / g.target_forwards.sum(),
            "acceptance_rate": g.acceptance_rate.mean(),
            "mean_k": g.mean_k.mean(),
            "idle_fraction_target": g.idle_fraction_target.mean(),
            "idle_fraction_draft": g.idle_fraction_draft.mean(),
            "empty_start_fraction": g.empty_start_fraction.mean(),
            "outcome_hit_rate": g.outcome_hit_rate.mean(),
            "mean_budget": g.mean_budget.mean(),
            # torch threads the method drafted with (runs before the column existed: unknown)
            "draft_threads": g.draft_threads.median() if "draft_threads" in g else float("nan"),
            # with retrieved chains: the share of rounds whose committed tokens include a retrieved
            # one, and of rounds decided by a chain grafted beside the model's tokens (a branch)
            "retrieval_decided": _share(g, "retrieval_rounds"),
            "branch_decided": _share(g, "retrieval_branch_rounds"),
            "matches_ar": bool(raw[(raw.task == task) & (raw.label == label)].matches_ar.all()),
        })
    table = pd.DataFrame(rows)
    overall = (table.groupby(["label", "method"], sort=False).median(numeric_only=True)
               .reset_index().assign(task="median", matches_ar=table.groupby("label", sort=False)
                                     .matches_ar.all().values))
    return pd.concat([table, overall], ignore_index=True)


def per_prompt_table(raw: pd.DataFrame, fair: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, method, prompt), for a figure's spread: speedup = AR's wall time / the
    method's and ttft_ms, each the median over repeats; `name` is the method's name in `fair`
    (SpS only at each task's best budget there)."""
    med = (raw.groupby(["task", "label", "method", "prompt_index"], sort=False)
           [["wall_time_s", "ttft_s"]].median().reset_index())
    ar = med[med.method == "ar"].set_index(["task", "prompt_index"]).wall_time_s
    med["speedup"] = [ar[(t, i)] / w for t, i, w in zip(med.task, med.prompt_index, med.wall_time_s, strict=True)]
    med["ttft_ms"] = 1000 * med.ttft_s
    best = fair[fair.task != "median"].set_index("task").sps_best_budget.astype(int)
    med["name"] = med.label.map(FAIR_NAMES)
    med.loc[med.label == med.task.map(lambda t: f"sps:budget={best.get(t)}"), "name"] = SPS_BEST
    return med.dropna(subset=["name"])


def relative_to(summary: pd.DataFrame, label: str) -> pd.DataFrame:
    """Per task: each method's speedup over `label` and its TTFT as a fraction of `label`'s."""
    tasks = summary[summary.task != "median"].copy()
    base = tasks[tasks.label == label].set_index("task")
    tasks[f"speedup_vs_{label}"] = tasks.tokens_per_s / tasks.task.map(base.tokens_per_s)
    tasks[f"ttft_vs_{label}"] = tasks.ttft_ms / tasks.task.map(base.ttft_ms)
    overall = (tasks.groupby(["label", "method"], sort=False).median(numeric_only=True)
               .reset_index().assign(task="median"))
    return pd.concat([tasks, overall], ignore_index=True)


def duo_report(profile: LatencyProfile, summary: pd.DataFrame, workloads: dict[str, Workload]) -> pd.DataFrame:
    """Per task: duo's round statistics (paper schedule vs default); the simulator's prediction
    for each duo schedule against what was measured; and how close duo gets to the best this
    machine allows. `profile`: the run profile (the benchmark script takes each quantity's median
    over quick profiles measured after each task and a full one at the end, so that the
    simulator sees the machine as the measurements did: its speed drifts within minutes);
    `workloads`: each task's greedy agreement (replayed exactly); duo's outcome hit rate is the
    measured one. The bounds, from T_t(n), alpha and t_d:
    `bound`: the simulator on that profile without overheads (perfect overlap; free channel,
    sync and bookkeeping), duo's default schedule, and SpS at its best budget the same way
    (budget.schedule_bounds); `never-empty`: every round has a block
    (every rejection foreseen, predict.budget.ideal_speedup); `sps ideal`: SpS without overheads,
    so never-empty / sps ideal is the most duo could gain over SpS here."""
    labels = {k: v for k, v in DUO_SCHEDULES.items() if k in set(summary.label)}
    rows = []
    for task, work in workloads.items():
        ar = predicted_tokens_per_s(profile, work, "ar", 1)
        never_empty, best_n = ideal_speedup(profile, work.alpha)
        sps_ideal, sps_n = sps_ideal_speedup(profile, work.alpha)
        row = {"task": task, "alpha": work.alpha, "never-empty speedup": never_empty, "never-empty n": best_n,
               "sps ideal speedup": sps_ideal, "sps ideal n": sps_n, "duo ceiling over sps": never_empty / sps_ideal}
        for label, options in labels.items():
            m = summary[(summary.task == task) & (summary.label == label)].iloc[0]
            predicted = predicted_tokens_per_s(profile, work, "duo", outcome_hit=m.outcome_hit_rate, **options)
            row.update({f"{label} speedup": m.speedup, f"{label} empty": m.empty_start_fraction,
                        f"{label} hit_rate": m.outcome_hit_rate, f"{label} draft_idle": m.idle_fraction_draft,
                        f"{label} predicted/measured tokens/s": predicted / m.tokens_per_s,
                        f"{label} predicted/measured speedup": predicted / ar / m.speedup})
            if label == "duo":  # SpS and duo on the same replayed agreement, without overheads
                bounds = schedule_bounds(profile, work, m.outcome_hit_rate)
                row.update({"duo bound speedup": bounds["duo (free)"], "sps bound speedup": bounds["sps (free)"],
                            "duo bound / sps bound": bounds["duo / sps (free)"]})
        row["duo / bound"] = row["duo speedup"] / row["duo bound speedup"]
        row["duo / never-empty"] = row["duo speedup"] / never_empty
        rows.append(row)
    return pd.DataFrame(rows)


def simulator_within(table: pd.DataFrame, tolerance: float = 0.15) -> dict[str, tuple[float, int]]:
    """For duo_report's table, per quantity ("tokens/s", "speedup"): the share of its
    predicted/measured ratios within `tolerance` of 1, and how many ratios there are."""
    out = {}
    for what in ("tokens/s", "speedup"):
        ratios = table[[c for c in table if c.endswith(f"predicted/measured {what}")]].to_numpy().ravel()
        out[what] = (float(((ratios > 1 - tolerance) & (ratios < 1 + tolerance)).mean()), len(ratios))
    return out


def budget_check(pair: Pair, profile: LatencyProfile, task: str, n_prompts: int, max_new_tokens: int,
                 repeats: int, sps_budgets, duo_budgets) -> tuple[list[dict], dict]:
    """The budget model against measurement on one task: its greedy acceptance alpha is measured
    on the prompts, tokens/s predicted from `profile` for AR, SpS and duo at every budget, and the
    same configurations measured (run_benchmark). Returns (one row per method and budget:
    predicted and measured tokens/s and the error; the task's budget choice: the auto-chosen
    budget, the best measured one and the paper's equal-time one, each as measured)."""
    methods = {"ar": {"method": "ar"},
               **{f"sps:{b}": {"method": "sps", "budget": b} for b in sps_budgets},
               **{f"duo:{b}": {"method": "duo", "budget": b} for b in duo_budgets}}
    workload = measure_workload(pair, [pair.as_prompt(p) for p in load_prompts(task, n_prompts)], max_new_tokens)
    raw = run_benchmark(pair, methods, [task], n_prompts, max_new_tokens, repeats, progress=False)
    summary = summarize(raw)
    summary = summary[summary.task == task].set_index("label")
    rows = []
    for method, budgets in (("ar", [0]), ("sps", sps_budgets), ("duo", duo_budgets)):
        table = predict(profile, workload, [method], budgets)
        for b, predicted in zip(table.budget, table.predicted_tokens_per_s, strict=True):
            measured = summary.loc["ar" if method == "ar" else f"{method}:{b}", "tokens_per_s"]
            rows.append({"task": task, "method": method, "budget": b, "alpha": workload.alpha,
                         "predicted_tokens_per_s": predicted, "measured_tokens_per_s": measured,
                         "error": predicted / measured - 1})
    measured_duo = {b: summary.loc[f"duo:{b}", "tokens_per_s"] for b in duo_budgets}
    best = max(measured_duo, key=measured_duo.get)
    auto = choose_budget(profile, workload, "duo", duo_budgets)
    equal = equal_time_budget(profile, duo_budgets)
    choice = {"task": task, "alpha": workload.alpha, "target_ms_1": profile.target_ms(1),
              "auto_budget": auto, "best_budget": best, "equal_time_budget": equal,
              "tokens_per_s_auto": measured_duo[auto], "tokens_per_s_best": measured_duo[best],
              "tokens_per_s_equal_time": measured_duo[equal],
              "auto_vs_best": measured_duo[auto] / measured_duo[best]}
    return rows, choice


def calibrated_on_ar(preds: pd.DataFrame) -> pd.DataFrame:
    """budget_check's rows with `error_ar_calibrated`: the error once the profile's time unit is
    rescaled per task so that AR's prediction matches AR's measurement (this machine's speed
    drifts by 10-20% over minutes; SpS and duo are then predicted out of sample)."""
    ar = preds[preds.method == "ar"].set_index("task").error
    return preds.assign(error_ar_calibrated=(1 + preds.error) / (1 + preds.task.map(ar)) - 1)
