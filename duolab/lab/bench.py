"""Benchmarks: tasks x methods sweeps into one tidy table, and the per-task summary of it.

Methods are compared in the same run, round-robin (the order rotates per prompt and repeat, so
no method always runs first or after a warm cache), with the median over repeats per prompt.
Metrics: speedup = AR wall time / method wall time on the same prompts; tau = new tokens /
target forwards (notebook 00's notation table).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
from tqdm.auto import tqdm

from duolab.generation import generate
from duolab.methods import METHODS
from duolab.models import Pair
from duolab.prompts import TASKS, load_prompts

STAT_COLUMNS = ["wall_time_s", "ttft_s", "new_tokens", "tokens_per_s", "target_forwards",
                "draft_tokens", "accepted_tokens", "tau", "acceptance_rate", "mean_k",
                "idle_fraction_target", "idle_fraction_draft", "worker_failed",
                "empty_start_fraction", "outcome_hit_rate", "mean_budget"]

PAPER_DUO = "duo:budget=8,catch_up=0,outcomes=false"  # the paper's schedule, for before/after
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
    fast_sps = tasks[tasks.label.str.startswith("sps:budget=")]
    best = fast_sps.loc[fast_sps.groupby("task").tokens_per_s.idxmax()].assign(
        label=lambda d: "sps best γ (" + d.label.str.replace("sps:budget=", "γ=") + ")")
    gpu_sps = tasks[tasks.label.str.startswith(GPU_DRAFT_SPS)]
    gpu_best = gpu_sps.loc[gpu_sps.groupby("task").tokens_per_s.idxmax()] if len(gpu_sps) else None
    cols = {"ar": "ar", SLOW_SPS: SLOW_SPS, SLOW_DUO: SLOW_DUO, "pld": "pld", "hf": "hf",
            "duo": "duo (default)", "duo:max_sequences=1": "duo single chain", PAPER_DUO: "duo paper schedule"}
    cols = {k: v for k, v in cols.items() if k in set(tasks.label)}
    rows = []
    for task in tasks.task.unique():
        b = best[best.task == task].iloc[0]
        row = {"task": task, "sps_best_budget": int(b.label.split("γ=")[1].rstrip(")"))}
        for label, name in [("__best__", "sps best γ"), *cols.items()]:
            r = b if label == "__best__" else tasks[(tasks.task == task) & (tasks.label == label)].iloc[0]
            row[f"{name} speedup"], row[f"{name} ttft_ms"] = r.speedup, r.ttft_ms
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
                  progress: bool = True, after_task: Callable[[str], None] | None = None) -> pd.DataFrame:
    """One row per (task, prompt, repeat, method label) with every stat in STAT_COLUMNS.

    `methods` maps a label to generate()'s keyword arguments (at least `method`), plus optionally
    `pair`: another Pair to run that label on (an ablation with other runners, same weights).
    Each label runs once before timing starts, so worker start-up and lazy allocations are not
    measured. `after_task(task)` runs after each task's last prompt (outside the timed calls; the
    benchmark script measures a profile there, so its simulator sees the machine as the run did).
    """
    if "ar" not in {o["method"] for o in methods.values()}:
        raise ValueError("methods must include an 'ar' entry: speedups are measured against it")
    if n_prompts < 1 or repeats < 1 or max_new_tokens < 1:
        raise ValueError("n_prompts, repeats and max_new_tokens must each be at least 1")
    common = {"max_new_tokens": max_new_tokens, **(generate_options or {})}
    labels = list(methods)
    pairs = {label: methods[label].get("pair", pair) for label in labels}
    kwargs = {label: {k: v for k, v in methods[label].items() if k != "pair"} for label in labels}
    warm = load_prompts(tasks[0], 1)[0]
    for label in labels:
        generate(pairs[label], warm, **common, **kwargs[label])

    work = [(t, i, p) for t in tasks for i, p in enumerate(load_prompts(t, n_prompts))]
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
            "matches_ar": bool(raw[(raw.task == task) & (raw.label == label)].matches_ar.all()),
        })
    table = pd.DataFrame(rows)
    overall = (table.groupby(["label", "method"], sort=False).median(numeric_only=True)
               .reset_index().assign(task="median", matches_ar=table.groupby("label", sort=False)
                                     .matches_ar.all().values))
    return pd.concat([table, overall], ignore_index=True)


def relative_to(summary: pd.DataFrame, label: str) -> pd.DataFrame:
    """Per task: each method's speedup over `label` and its TTFT as a fraction of `label`'s."""
    tasks = summary[summary.task != "median"].copy()
    base = tasks[tasks.label == label].set_index("task")
    tasks[f"speedup_vs_{label}"] = tasks.tokens_per_s / tasks.task.map(base.tokens_per_s)
    tasks[f"ttft_vs_{label}"] = tasks.ttft_ms / tasks.task.map(base.ttft_ms)
    overall = (tasks.groupby(["label", "method"], sort=False).median(numeric_only=True)
               .reset_index().assign(task="median"))
    return pd.concat([tasks, overall], ignore_index=True)
