"""Compare decoders on the default pair (or DUOLAB_TARGET/DUOLAB_DRAFT) across the seven tasks.

    python scripts/bench_methods.py                # the fair-baseline table (below), 5 prompts/task
    python scripts/bench_methods.py --methods ar sps:budget=6 duo:budget=6,max_sequences=1

Every method that runs the draft model drafts with the pair's one draft runner (the fast runner
by default); SpS runs at each budget of {2, 3, 4, 6} and its best per task is reported. One
ablation keeps the slow drafter visible: "sps, transformers drafter" runs on a second pair with
draft_runner="transformers" (same weights). hf keeps transformers' own assistant on purpose.
duo uses two cores (target core + worker core); every other method uses one.

Prints per-task tables (tokens/s, speedup over AR, TTFT, tau) and writes the raw rows and the
summaries as CSV under data/results/ (see duolab.bench for the metric definitions).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from duolab.bench import parse_method_specs, relative_to, run_benchmark, summarize
from duolab.models import load_pair
from duolab.plots import results_dir
from duolab.tasks import TASKS

FAIR = ["ar", "sps:budget=2", "sps:budget=3", "sps:budget=4", "sps:budget=6", "pld", "hf", "duo",
        "duo:max_sequences=1"]
SLOW_SPS = "sps, transformers drafter"


def fair_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per task: speedup and TTFT of each method, with SpS (fast drafter) at its best budget."""
    tasks = summary[summary.task != "median"]
    fast_sps = tasks[(tasks.method == "sps") & (tasks.label != SLOW_SPS)]
    best = fast_sps.loc[fast_sps.groupby("task").tokens_per_s.idxmax()].assign(
        label=lambda d: "sps best γ (" + d.label.str.replace("sps:budget=", "γ=") + ")")
    cols = {"ar": "ar", SLOW_SPS: SLOW_SPS, "pld": "pld", "hf": "hf", "duo": "duo (default)",
            "duo:max_sequences=1": "duo single chain"}
    rows = []
    for task in tasks.task.unique():
        b = best[best.task == task].iloc[0]
        row = {"task": task, "sps_best_budget": int(b.label.split("γ=")[1].rstrip(")"))}
        for label, name in [("__best__", "sps best γ"), *cols.items()]:
            r = b if label == "__best__" else tasks[(tasks.task == task) & (tasks.label == label)].iloc[0]
            row[f"{name} speedup"], row[f"{name} ttft_ms"] = r.speedup, r.ttft_ms
        row["duo / sps best"] = row["duo (default) speedup"] / row["sps best γ speedup"]
        rows.append(row)
    table = pd.DataFrame(rows)
    med = table.drop(columns="task").median().to_dict()
    return pd.concat([table, pd.DataFrame([{"task": "median", **med}])], ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=None, help="default: the fair-baseline set")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--prompts", type=int, default=5, help="prompts per task")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--slow-sps-budget", type=int, default=3, help="budget of the transformers-drafter SpS")
    ap.add_argument("--name", default="methods", help="CSV stem under data/results/")
    ap.add_argument("--target-device", default=None, help="default: cuda if available, else cpu")
    args = ap.parse_args()

    fair = args.methods is None
    methods = parse_method_specs(FAIR if fair else args.methods)
    t0 = time.time()
    with load_pair(target_device=args.target_device) as pair:
        print(pair)
        slow = None
        if fair:
            slow = load_pair(target_device=args.target_device, draft_runner="transformers")
            methods[SLOW_SPS] = {"method": "sps", "budget": args.slow_sps_budget, "pair": slow}
        raw = run_benchmark(pair, methods, args.tasks, args.prompts, args.max_new_tokens,
                            args.repeats, {"temperature": args.temperature, "seed": 0})
        if slow is not None:
            slow.close()
    summary = summarize(raw)
    if "sps" in summary.method.values:
        sps_label = summary[summary.method == "sps"].label.iloc[0]
        summary = relative_to(summary, sps_label)
    out = results_dir()
    raw.to_csv(out / f"{args.name}_raw.csv", index=False)
    summary.to_csv(out / f"{args.name}_summary.csv", index=False)

    pd.set_option("display.width", 250, "display.max_columns", 30, "display.precision", 3)
    for col in ["tokens_per_s", "speedup", "ttft_ms", "tau"]:
        print(f"\n{col}")
        print(summary.pivot(index="task", columns="label", values=col)
              .reindex(list(args.tasks) + ["median"]))
    if fair:
        table = fair_table(summary)
        table.to_csv(out / f"{args.name}_fair.csv", index=False)
        print("\nfair baselines (speedup over AR, TTFT ms; duo uses 2 cores, every other method 1)")
        print(table.round(3).to_string(index=False))
    print(f"\nall greedy outputs equal AR: {bool(raw.matches_ar.all())}")
    print(f"{len(raw)} generations in {time.time() - t0:.0f} s; wrote {out}/{args.name}_*.csv")


if __name__ == "__main__":
    main()
