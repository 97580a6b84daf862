"""Compare decoders on the default pair (or DUOLAB_TARGET/DUOLAB_DRAFT) across the seven tasks.

    python scripts/bench_methods.py                # the fair-baseline table (below), 5 prompts/task
    python scripts/bench_methods.py --methods ar sps:budget=6 duo:budget=6,max_sequences=1

Every method that runs the draft model drafts with the pair's one draft runner (the fast runner
by default); SpS runs at each budget of {1, 2, 3, 4, 6, 8, 12, 16} and its best per task is reported. One
ablation keeps the slow drafter visible: "sps, transformers drafter" runs on a second pair with
draft_runner="transformers" (same weights). hf keeps transformers' own assistant on purpose.
duo uses two cores (target core + worker core); every other method uses one.

Prints per-task tables (tokens/s, speedup over AR, TTFT, tau) and writes the raw rows and the
summaries as CSV under data/results/ (see duolab.lab.bench for the metric definitions).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from duolab.artefacts import save_table
from duolab.lab.bench import (
    GPU_DRAFT_SPS,
    fair_methods,
    fair_table,
    parse_method_specs,
    relative_to,
    run_benchmark,
    summarize,
)
from duolab.lab.duo_report import duo_report_text, duo_run_table, run_profile
from duolab.lab.retrieval_gate import measured_comparison
from duolab.measure.profile_store import cached_profile
from duolab.measure.profiling import profile_pair
from duolab.models import load_pair, resolve_device
from duolab.paths import results_dir
from duolab.prompts import TASKS

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def report_duo(pair, summary: pd.DataFrame, tasks, n_prompts: int, max_new_tokens: int, path,
               profile_out=None, run_profiles=()) -> pd.DataFrame:
    """duo's simulator report (duolab.lab.duo_report) on the run profile: printed, written to
    `path`, the profile to `profile_out` when given."""
    profile, spread = run_profile(pair, run_profiles)
    print(f"\n{spread}")
    if profile_out:
        profile.save(profile_out)
    table = duo_run_table(pair, profile, summary, tasks, n_prompts, max_new_tokens)
    save_table(table, path)
    print(duo_report_text(table))
    return table


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=None, help="default: the fair-baseline set")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--prompts", type=int, default=5, help="prompts per task")
    ap.add_argument("--spread-prompts", action="store_true",
                    help="take them from both ends of each task's set (prompts.spread_prompts), not the first")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--slow-sps-budget", type=int, default=3, help="budget of the transformers-drafter SpS")
    ap.add_argument("--name", default="methods", help="CSV stem under data/results/ (may name a subfolder: gpu/methods)")
    ap.add_argument("--target-device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--dtype", default=None, choices=list(DTYPES),
                    help="the target's dtype (default: float32 on the CPU, float16 on a GPU)")
    ap.add_argument("--draft-runner", default="auto", choices=["auto", "fast", "transformers"],
                    help="the pair's one draft runner, for every method that drafts")
    ap.add_argument("--gpu-draft-sps", type=int, nargs="*", default=[], metavar="BUDGET",
                    help="also SpS with the draft on the target's GPU (the paper's baseline) at these budgets")
    ap.add_argument("--profile-out", default=None, help="also save the run profile (see report_duo) here")
    ap.add_argument("--tables-only", action="store_true",
                    help="no generations: the tables again from the run's committed <name>_raw.csv")
    ap.add_argument("--no-duo-report", action="store_true",
                    help="skip duo's simulator report (a quick profile after each task, a full one at the end)")
    return ap.parse_args()


def write_tables(raw: pd.DataFrame, name: str) -> pd.DataFrame:
    """A run's summary (written), then its printed tables (fair and retrieval ones written)."""
    out = results_dir()
    summary = summarize(raw)
    if "sps" in summary.method.values:
        summary = relative_to(summary, summary[summary.method == "sps"].label.iloc[0])
    save_table(summary, out / f"{name}_summary.csv")
    print_tables(raw, summary, list(dict.fromkeys(raw.task)), out / f"{name}_fair.csv")
    return summary


def main() -> None:
    args = parse_args()
    if args.tables_only:  # no generations: the tables again from the run's raw rows
        write_tables(pd.read_csv(results_dir() / f"{args.name}_raw.csv"), args.name)
        return
    fair = args.methods is None
    t0 = time.time()
    load = {"target_device": args.target_device, "dtype": DTYPES[args.dtype] if args.dtype else None}
    if fair and args.draft_runner != "auto":
        raise ValueError("--draft-runner applies to a --methods list (the fair set has its own slow-drafter pair)")
    if args.gpu_draft_sps and resolve_device(args.target_device).type == "cpu":
        raise ValueError("--gpu-draft-sps needs the target on a GPU (--target-device cuda)")
    with load_pair(**load, draft_runner=args.draft_runner) as pair:
        print(pair)
        # Before any method runs: on a GPU host this chooses the calling process's threads (every
        # method then runs with them), and duo's policy never measures its profile mid-run.
        prof = cached_profile(pair, quick=True)  # a saved full one is taken; a new pair gets a quick one
        print(f"profile for duo's policy: {prof.machine}, measured {prof.notes.get('when')}, "
              f"caller threads {prof.notes.get('caller_threads')}")
        slow = load_pair(**load, draft_runner="transformers") if fair else None
        methods = fair_methods(slow, args.slow_sps_budget) if fair else parse_method_specs(args.methods)
        on_gpu = load_pair(**load, draft_device=pair.target_device) if args.gpu_draft_sps else None
        for b in args.gpu_draft_sps:
            methods[f"{GPU_DRAFT_SPS}:budget={b}"] = {"method": "sps", "budget": b, "pair": on_gpu}
        run_profiles = []  # for duo's report: the machine as the run saw it, once per task

        def after_task(task: str) -> None:
            if any(m["method"] == "duo" for m in methods.values()) and not args.no_duo_report:
                run_profiles.append(profile_pair(pair, quick=True))

        raw = run_benchmark(pair, methods, args.tasks, args.prompts, args.max_new_tokens,
                            args.repeats, {"temperature": args.temperature, "seed": 0}, after_task=after_task,
                            spread=args.spread_prompts)
        for other in (slow, on_gpu):
            if other is not None:
                other.close()
        out = results_dir()
        (out / args.name).parent.mkdir(parents=True, exist_ok=True)  # --name may name a subfolder
        save_table(raw, out / f"{args.name}_raw.csv")
        summary = write_tables(raw, args.name)
        if "duo" in set(summary.label) and not args.no_duo_report:  # needs the pair: its profile and each task's greedy agreement
            report_duo(pair, summary, args.tasks, args.prompts, args.max_new_tokens, out / f"{args.name}_duo.csv",
                       args.profile_out, run_profiles)
    print(f"{len(raw)} generations, {time.time() - t0:.0f} s in all; wrote {out}/{args.name}_*.csv")


def print_tables(raw: pd.DataFrame, summary: pd.DataFrame, tasks, fair_path) -> None:
    """Per-task tables of each metric; the fair table (written to fair_path) when ar, duo and an
    SpS budget ran; whether every greedy output equals AR's."""
    pd.set_option("display.width", 250, "display.max_columns", 30, "display.precision", 3)
    for col in ["tokens_per_s", "speedup", "ttft_ms", "tau"]:
        print(f"\n{col}")
        print(summary.pivot(index="task", columns="label", values=col).reindex(list(tasks) + ["median"]))
    if {"ar", "duo"} <= set(summary.label) and "sps" in set(summary.method):
        table = fair_table(summary)
        save_table(table, fair_path)
        print("\nfair baselines (speedup over AR, TTFT ms; duo uses 2 cores, every other method 1)")
        print(table.round(3).to_string(index=False))
    if raw.label.str.contains("retrieval=").any():
        table = measured_comparison(summary)
        save_table(table.reset_index(names="task"), fair_path.with_name(fair_path.name.replace("_fair", "_retrieval")))
        print("\nwith retrieval: speedup over AR, each family at its best label per task")
        print(table.round(3).to_string())
    print(f"\nall greedy outputs equal AR: {bool(raw.matches_ar.all())}", flush=True)


if __name__ == "__main__":
    main()
