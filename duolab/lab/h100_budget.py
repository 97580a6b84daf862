"""The previous pair's H100 measurement through the budget model and the simulator.

data/earlier_pairs/stage2-target-h100/ holds that run's latency profile (h100-host.json, rebuilt
from the shared measurement by `import_shared`) and its workload (h100_workload.csv: per prompt
of the run -- 2 per task, 96 new tokens, greedy -- whether the draft's greedy token equals the
target's at each new position, measured on the CPU in fp32 with the pair the run used, so the
simulator replays acceptance exactly). `budget_choice` sets the one budget the model picks (`run_budget`)
there against the simulated best; `sim_vs_measured` the simulator's speedups against the run's.
scripts/h100_budget.py writes both tables beside the inputs.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

import pandas as pd

from duolab.artefacts import EARLIER_PAIRS_DIR, save_table
from duolab.latency_profile import LatencyProfile, Workload
from duolab.predict.budget import as_workload, choose_budget, equal_time_budget, predict
from duolab.predict.simulate import simulate
from duolab.prompts import TASKS

HERE = EARLIER_PAIRS_DIR / "stage2-target-h100"  # the previous pair's H100 record
PROFILE = HERE / "h100-host.json"
WORKLOAD = HERE / "h100_workload.csv"
RUN_PROMPTS, RUN_NEW_TOKENS = 2, 96  # the H100 run's workload
CHOICE_NEW_TOKENS = 128  # run_budget's workload: the first prompt of each task, 128 new tokens
ALPHA_PROMPT_TOKENS = 80  # the prompt length of the alpha-only workloads
ALPHAS = [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
BUDGETS = range(1, 33)
# the calling process's torch threads in each run, and AR's tokens/s there (the file's caveats)
RUN_THREADS = {"run_A": 16, "run_B": 2, "run_C": 1}
RUN_AR_TOKENS_PER_S = {"run_A": 109.0, "run_B": 114.0, "run_C": 82.823}

# measured label -> (method, budget, catch_up, how the draft runs); budget "auto" = run_budget's pick.
# Drafts: "profile" = as profiled; "gpu" = SpS drafting on the GPU (not profiled: ms per token
# inferred from the TTFTs); "fast" = SpS drafting in process with the worker's fast runner.
MODELLED = {
    "ar": ("ar", 0, 0, "profile"),
    "sps3_cpu_draft": ("sps", 3, 0, "profile"),
    "sps4_gpu_draft": ("sps", 4, 0, "gpu"), "sps6_gpu_draft": ("sps", 6, 0, "gpu"),
    "duo4": ("duo", 4, 0, "profile"), "duo8": ("duo", 8, 0, "profile"),
    "duo8_catchup3": ("duo", 8, 3, "profile"), "duo12_catchup3": ("duo", 12, 3, "profile"),
    "duo_auto": ("duo", "auto", 0, "profile"),
    **{f"fsps{b}": ("sps", b, 0, "fast") for b in (3, 4, 6, 8, 12)},
}
NOT_MODELLED = {"hf4_gpu_draft": "transformers' assisted generation: its own loop, not simulated",
                "transformers_generate": "target.generate(): transformers' loop, not simulated"}


def import_shared(path: Path) -> LatencyProfile:
    """The shared measurement as a LatencyProfile, reconciled (warns about what it corrects); its
    notes keep the source, the raw values it replaced, and the measured runs."""
    src = json.loads(path.read_text())
    lp = src["latency_profile_ms"]
    runs = {}
    for name, run in src["runs"].items():
        key = name.split(" ")[0]
        runs[key] = {"caller_threads": RUN_THREADS[key], "ar_tokens_per_s": RUN_AR_TOKENS_PER_S[key],
                     "description": name, **run}
    raw = LatencyProfile(
        machine=f"{src['env']['gpu']} host, {src['env']['cores']} vCPUs",
        target="data/models/target", draft="data/models/draft", target_device="cuda",
        target_forward_ms=lp["target_forward_ms"],
        prefill_ms={int(k): v for k, v in lp["prefill_ms"].items()},
        draft_ms_per_token=lp["draft_ms_per_token"], draft_overhead_ms=lp["draft_overhead_ms"],
        sps_draft_ms_per_token=lp["sps_draft_ms_per_token"], channel_ms=lp["channel_ms"],
        sync_ms=lp["sync_ms"], ar_step_ms=lp["ar_step_ms"],
        notes={"source": "../shared/measurements/h100-default-pair.json",
               "measured": f"measured on an H100 host: {src['what']}",
               "torch": src["env"]["torch"], "raw": {"ar_step_ms": lp["ar_step_ms"]},
               "draft_runner": "fast", "target_runner": "transformers",
               "sps_draft": "in process with the transformers runner (sps did not share the "
                            "worker's fast runner yet), torch's default threads (16)",
               "caller_threads": None, "caller_threads_from": "torch's default (16), not chosen",
               "caveats": src["caveats"], "runs": runs})
    return raw.reconciled()


def load_workload(path: Path = WORKLOAD) -> dict[str, list[dict]]:
    """task -> per prompt {prompt_tokens, new_tokens, agreement}."""
    table = pd.read_csv(path, dtype={"agreement": str})
    return {task: [{"prompt_tokens": int(r.prompt_tokens), "new_tokens": int(r.new_tokens),
                    "agreement": [c == "1" for c in r.agreement]} for r in g.itertuples()]
            for task, g in table.groupby("task", sort=False)}


def measure_workload_csv(target: str, draft: str, path: Path = WORKLOAD) -> None:
    """Greedy agreement of the H100 run's prompts, measured here on the CPU (fp32)."""
    from duolab.measure.profiling import measure_workload
    from duolab.models import load_pair  # loads torch models: only this re-measurement needs them
    from duolab.prompts import load_prompts

    rows = []
    with load_pair(target, draft, target_device="cpu") as pair:
        for task in TASKS:
            w = measure_workload(pair, load_prompts(task, RUN_PROMPTS), RUN_NEW_TOKENS)
            for i, ((p, n), agree) in enumerate(zip(w.shapes, w.agreement, strict=True)):
                rows.append({"task": task, "prompt_index": i, "prompt_tokens": p, "new_tokens": n,
                             "agreement": "".join("1" if a else "0" for a in agree)})
    save_table(pd.DataFrame(rows), path)


def replay_workload(prompts: list[dict], max_new_tokens: int) -> Workload:
    """The Workload of these prompts (load_workload's rows), their agreement replayed exactly."""
    agree = [a for p in prompts for a in p["agreement"]]
    return Workload(sum(agree) / len(agree), [(p["prompt_tokens"], p["new_tokens"]) for p in prompts],
                    max_new_tokens, [p["agreement"] for p in prompts])


def choice_workload(workload: dict[str, list[dict]]) -> Workload:
    """What run_budget chooses on: the first prompt of each task under a 128-token cap (the run's
    generations all end at EOS before 96 tokens, so their agreement is the same)."""
    return replay_workload([prompts[0] for prompts in workload.values()], CHOICE_NEW_TOKENS)


def run_budget(profile: LatencyProfile, workload: dict[str, list[dict]]) -> int:
    """One budget for a whole generation, as the model picks it on this profile (choose_budget,
    5 simulated runs). This is how the run's label `duo_auto` is modelled: its budget="auto" chose
    one budget per generation, where duo's budget="auto" now chooses each round
    (duolab.methods.round_policy)."""
    return choose_budget(profile, choice_workload(workload), "duo", BUDGETS, runs=5)


def draft_variant(profile: LatencyProfile, draft: str) -> LatencyProfile:
    if draft == "fast":  # the worker's runner in process: per token plus one re-feed per 8 tokens
        return replace(profile, sps_draft_ms_per_token=profile.draft_ms(8) / 8)
    if draft == "gpu":  # SpS's first token waits for `budget` draft forwards: ms = dTTFT / budget
        runs = profile.notes["runs"]
        est = [(r["ttft_ms"][f"sps{b}_gpu_draft"] - r["ttft_ms"]["ar"]) / b
               for r in runs.values() if "ttft_ms" in r and "sps4_gpu_draft" in r["ttft_ms"] for b in (4, 6)]
        return replace(profile, sps_draft_ms_per_token=statistics.mean(est))
    return profile


def simulate_task(profile, method, budget, catch_up, prompts) -> tuple[float, float]:
    """(total wall s, median TTFT s) of a task's prompts, acceptance replayed."""
    walls, ttfts = [], []
    for p in prompts:
        s = simulate(profile, method, 0.0, max(budget, 1), new_tokens=p["new_tokens"],
                     prompt_tokens=p["prompt_tokens"], max_new_tokens=RUN_NEW_TOKENS,
                     catch_up=catch_up, agreement=p["agreement"]).stats
        walls.append(s["wall_time_s"])
        ttfts.append(s["ttft_s"])
    return sum(walls), statistics.median(ttfts)


def simulated_ar_tokens_per_s(profile: LatencyProfile, workload: dict[str, list[dict]]) -> float:
    """AR's simulated tokens/s, median over tasks."""
    return statistics.median(sum(p["new_tokens"] for p in ps) / simulate_task(profile, "ar", 0, 0, ps)[0]
                             for ps in workload.values())


def sim_vs_measured(profile: LatencyProfile, workload: dict[str, list[dict]], auto: int) -> pd.DataFrame:
    """Per measured (run, label): the simulated speedup over AR and TTFT beside the measured ones.
    Speedup as bench.summarize: per task AR wall / method wall, median over tasks."""
    ar = {t: simulate_task(profile, "ar", 0, 0, ps) for t, ps in workload.items()}
    sim = {}
    for label, (method, budget, catch_up, draft) in MODELLED.items():
        budget = auto if budget == "auto" else budget
        p = draft_variant(profile, draft)
        per_task = {t: simulate_task(p, method, budget, catch_up, ps) for t, ps in workload.items()}
        sim[label] = (budget, statistics.median(ar[t][0] / per_task[t][0] for t in workload),
                      1000 * statistics.median(v[1] for v in per_task.values()))
    rows = []
    for run, data in profile.notes["runs"].items():
        for label, measured in data["speedup_vs_ar"].items():
            budget, speedup, ttft = sim.get(label, (None, float("nan"), float("nan")))
            rows.append({"run": run, "caller_threads": data["caller_threads"], "label": label,
                         "budget": budget, "simulated_speedup": speedup, "measured_speedup": measured,
                         "sim_over_measured": speedup / measured,
                         "simulated_ttft_ms": ttft, "measured_ttft_ms": data.get("ttft_ms", {}).get(label),
                         "not_modelled": NOT_MODELLED.get(label, "")})
    return pd.DataFrame(rows)


def sim_vs_measured_wide(table: pd.DataFrame) -> pd.DataFrame:
    """sim_vs_measured's table one row per label: the simulated speedup, the measured one per run,
    the simulated TTFT and runs A's and B's measured TTFTs."""
    wide = table.pivot(index="label", columns="run", values="measured_speedup")
    sims = table.drop_duplicates("label").set_index("label")
    wide.insert(0, "simulated", sims.simulated_speedup)
    wide["sim_ttft_ms"] = sims.simulated_ttft_ms
    for run in ("run_A", "run_B"):
        wide[f"ttft_{run[-1]}"] = table[table.run == run].set_index("label").measured_ttft_ms
    return wide.reindex(list(dict.fromkeys(table.label)))


def budget_choice(profile: LatencyProfile, workload: dict[str, list[dict]], runs: int = 40) -> pd.DataFrame:
    """Per method and workload: the budget the model picks (as run_budget does: runs=5) against
    the simulated best (runs=`runs`, or exact replay), and the paper's equal-time budget."""
    auto_w = choice_workload(workload)
    variants = {"duo": ("duo", profile), "sps": ("sps", profile),
                "sps_fast": ("sps", draft_variant(profile, "fast"))}
    rows = []
    for name, (method, p) in variants.items():
        auto = choose_budget(p, auto_w, method, BUDGETS, runs=5)
        alphas = {a: as_workload(a, RUN_NEW_TOKENS, ALPHA_PROMPT_TOKENS) for a in ALPHAS}
        cases = [(f"alpha={a:.2f}", w, choose_budget(p, w, method, BUDGETS, runs=5), runs) for a, w in alphas.items()]
        cases += [(f"task={t}", replay_workload(ps, RUN_NEW_TOKENS), auto, 1) for t, ps in workload.items()]
        cases += [("all tasks", replay_workload([q for ps in workload.values() for q in ps], RUN_NEW_TOKENS), auto, 1)]
        for label, w, chosen, n_runs in cases:
            table = predict(p, w, [method], BUDGETS, runs=n_runs).set_index("budget").predicted_tokens_per_s
            ar = predict(p, w, ["ar"], runs=1).predicted_tokens_per_s.iloc[0]
            best, equal = int(table.idxmax()), equal_time_budget(p, BUDGETS)
            rows.append({"method": name, "workload": label, "alpha": w.alpha,
                         "chosen_budget": chosen, "best_budget": best, "equal_time_budget": equal,
                         "chosen_vs_best": table[chosen] / table[best],
                         "equal_time_vs_best": table[equal] / table[best],
                         "speedup_chosen": table[chosen] / ar, "speedup_best": table[best] / ar})
    return pd.DataFrame(rows)
