"""duo's report after a round-robin benchmark (scripts/bench_methods.py calls it): the run profile
the simulator sees, each task's greedy agreement, and duolab.lab.bench.duo_report on them, with
the text the script prints; and `typical_round`, where one round of a generation spends its time.

The run profile is each quantity's median over the quick profiles measured after each task and a
full one measured at the end: the machine's speed drifts within minutes, and the simulator should
see it as the measurements did.
"""

from __future__ import annotations

import pandas as pd

from duolab.lab.bench import duo_report, simulator_within
from duolab.latency_profile import LatencyProfile
from duolab.measure.profiling import measure_workload, profile_pair
from duolab.models import Pair
from duolab.prompts import load_prompts


def run_profile(pair: Pair, run_profiles=()) -> tuple[LatencyProfile, str]:
    """The median of `run_profiles` and a full profile measured now; and a line saying how far
    T_t(1) and t_d moved over the run."""
    profiles = [*run_profiles, profile_pair(pair)]
    profile = LatencyProfile.median(profiles)
    line = (f"run profile: median of {len(profiles)}; T_t(1) "
            f"{min(p.target_ms(1) for p in profiles):.2f}-{max(p.target_ms(1) for p in profiles):.2f} ms, "
            f"t_d {min(p.draft_ms_per_token for p in profiles):.3f}-{max(p.draft_ms_per_token for p in profiles):.3f}"
            f" ms over the run; median {profile.target_ms(1):.2f} and {profile.draft_ms_per_token:.3f}")
    return profile, line


def duo_run_table(pair: Pair, profile: LatencyProfile, summary: pd.DataFrame, tasks, n_prompts: int,
                  max_new_tokens: int) -> pd.DataFrame:
    """duo_report on `profile` and each task's greedy agreement (its prompts as the benchmark ran
    them, through the pair's chat template)."""
    workloads = {task: measure_workload(pair, [pair.as_prompt(p) for p in load_prompts(task, n_prompts)],
                                        max_new_tokens) for task in tasks}
    return duo_report(profile, summary, workloads)


def duo_report_text(table: pd.DataFrame) -> str:
    """The table, one quantity a line, and how often the simulator came within 15 % of measured."""
    lines = ["\nduo per task: empty-start fraction (paper schedule -> default), outcome hit rate, draft idle,"
             " bounds, simulator predicted / measured",
             table.round(3).T.to_string(header=False)]
    lines += [f"simulator within 15% of measured {what} on {within:.0%} of {n} points"
              for what, (within, n) in simulator_within(table).items()]
    return "\n".join(lines)


def typical_round(trace: pd.DataFrame) -> tuple[int, pd.DataFrame]:
    """Where a round's time goes: the round (after the first, which holds the prefill) whose
    length is the median, and its events in ms from its start (side, kind, start, length)."""
    later = trace[trace["round"] > 0]
    if later.empty:
        raise ValueError("the trace has no round after the first")
    spans = later.groupby("round").agg(start=("start_s", "min"), end=("end_s", "max"))
    lengths = (spans.end - spans.start).sort_values()
    r = int(lengths.index[len(lengths) // 2])
    events = later[later["round"] == r]
    t0 = spans.loc[r, "start"]
    return r, pd.DataFrame({"side": events.side, "kind": events.kind,
                            "start_ms": 1000 * (events.start_s - t0),
                            "ms": 1000 * (events.end_s - events.start_s)}).reset_index(drop=True)
