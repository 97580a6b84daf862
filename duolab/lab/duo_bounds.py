"""How much duo's schedule can gain over SpS at best, per task and saved profile (scripts/duo_bounds.py
calls it): each task's greedy agreement, measured on the pair, replayed by the simulator as
measured and without overheads (duolab.predict.budget.schedule_bounds), plus duo with every
outcome chain caught.
"""

from __future__ import annotations

import pandas as pd

from duolab.latency_profile import LatencyProfile
from duolab.measure.profiling import measure_workload
from duolab.models import Pair
from duolab.paths import DATA_DIR
from duolab.predict.budget import predicted_tokens_per_s, schedule_bounds
from duolab.prompts import TASKS, load_prompts

# the columns the report shows, in order
REPORT_COLUMNS = ["task", "alpha", "sps best γ (free)", "sps (free)", "duo (free)", "duo / sps (free)",
                  "duo / sps (free, every chain caught)", "sps (measured)", "duo (measured)", "duo / sps (measured)"]


def saved_profiles(names: list[str]) -> dict[str, LatencyProfile]:
    """The profiles of those file names under data/profiles/."""
    return {name: LatencyProfile.load(DATA_DIR / "profiles" / name) for name in names}


def bounds_table(pair: Pair, profiles: dict[str, LatencyProfile], n_prompts: int, max_new_tokens: int,
                 outcome_hit: float, tasks=TASKS) -> pd.DataFrame:
    """One row per task and profile: schedule_bounds at `outcome_hit`, and duo / SpS without
    overheads with every chain caught."""
    rows = []
    for task in tasks:
        work = measure_workload(pair, load_prompts(task, n_prompts), max_new_tokens)
        for name, profile in profiles.items():
            row = {"profile": name, "task": task, "alpha": work.alpha,
                   **schedule_bounds(profile, work, outcome_hit)}
            # the same SpS bound; duo with every chain caught (no second SpS sweep)
            free = profile.without_overheads()
            caught = predicted_tokens_per_s(free, work, "duo", "auto", outcome_hit=1.0)
            row["duo / sps (free, every chain caught)"] = (
                caught / predicted_tokens_per_s(free, work, "ar", 1) / row["sps (free)"])
            rows.append(row)
    return pd.DataFrame(rows)


def bounds_report(table: pd.DataFrame, outcome_hit: float) -> str:
    """Per profile: the task table (REPORT_COLUMNS) and the median of each duo / sps column."""
    lines = []
    for name, t in table.groupby("profile", sort=False):
        lines.append(f"\n{name}: simulated speedup over AR, replayed greedy agreement, outcome hit {outcome_hit}")
        lines.append(t[REPORT_COLUMNS].round(3).to_string(index=False))
        lines.append(f"median duo / sps: "
                     f"{t[[c for c in REPORT_COLUMNS if c.startswith('duo / sps')]].median().round(3).to_dict()}")
    return "\n".join(lines)
