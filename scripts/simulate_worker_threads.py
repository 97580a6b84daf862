"""duo's worker with the host's cores, simulated on the H200 host's profile of the real pair.

    python scripts/simulate_worker_threads.py

On that host duo's worker drafted with 1 thread (the profile's t_d) while SpS's in-process draft
used the caller's 15 threads (its sps_draft_ms_per_token). This simulates duo over SpS's best at
the pair's α per task (data/results/real_pair_quality.csv) and at the prior α recorded there, as
measured and with the worker drafting at SpS's speed (what a worker with the host's cores would
at least reach). Writes data/results/h200_worker_threads_simulated.csv. Simulated, not measured.
"""

import json

import pandas as pd

from duolab.artefacts import real_pair_hash, save_table
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR, results_dir
from duolab.predict.regime import worker_speed_what_if

H200 = DATA_DIR / "real_pair" / "h200"


def main() -> None:
    profile = LatencyProfile.load(H200 / "profile_quick.json")
    quality = pd.read_csv(DATA_DIR / "results" / "real_pair_quality.csv").set_index("task").agreement
    prior = json.loads((H200 / "prior_alpha_workload.json").read_text())["alpha"]
    alphas = {**quality.to_dict(), "prior α (H200 run)": prior}
    table = worker_speed_what_if(profile, list(alphas.values()), profile.sps_draft_ms_per_token, new_tokens=64)
    table.insert(0, "α from", list(alphas))
    save_table(table, results_dir() / "h200_worker_threads_simulated.csv", pair=real_pair_hash())  # the real pair's
    print(table.round(3).to_string(index=False))
    tasks = table[table["α from"] != "prior α (H200 run)"]
    print(f"\nmedian over tasks: duo / SpS best {tasks['duo / sps'].median():.3f} as measured "
          f"(worker t_d {profile.draft_ms_per_token:.2f} ms), {tasks['duo / sps, faster worker'].median():.3f} "
          f"with the worker at SpS's {profile.sps_draft_ms_per_token:.2f} ms")


if __name__ == "__main__":
    main()
