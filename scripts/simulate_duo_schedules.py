"""duo's schedules in both regimes, simulated from measured profiles: this CPU and an H100 host.

    python scripts/simulate_duo_schedules.py

For each profile in data/profiles (cpu-2core.json: this 2-core machine, transformers target and
fast draft runner; h100-host.json: the previous pair's H100 run of ../shared/measurements, in
data/earlier_pairs/stage2-target-h100/) and a few acceptance
rates, the simulated speedup over AR of: SpS at its best budget (same draft speed), duo with the
paper's schedule at its best budget, duo with its defaults (per-round budget and catch-up, outcome
chains caught at `OUTCOME_HIT`), and the best any schedule could do (predict.budget.ideal_speedup).
Writes data/results/duo_schedules_simulated.csv.
"""
from __future__ import annotations

import pandas as pd

from duolab.artefacts import EARLIER_PAIRS_DIR, save_table
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR, results_dir
from duolab.predict.budget import BUDGETS, ideal_speedup
from duolab.predict.simulate import OUTCOME_HIT, expected_throughput

PROFILES = {"this CPU (2 cores)": DATA_DIR / "profiles" / "cpu-2core.json",
            "H100 host (previous pair, shared run)": EARLIER_PAIRS_DIR / "stage2-target-h100" / "h100-host.json",
            "H100 host (fp32, measured 2026-11-27)": DATA_DIR / "profiles" / "h100-fp32.json"}
ALPHAS = (0.5, 0.65, 0.8, 0.93)
RUN = dict(new_tokens=96, prompt_tokens=128)


def best(profile, method, alpha, runs=8, **options) -> tuple[int, float]:
    rates = {b: expected_throughput(profile, method, alpha, b, runs=runs, **RUN, **options) for b in BUDGETS}
    b = max(rates, key=rates.get)
    return b, rates[b]


def main() -> None:
    rows = []
    for name, file in PROFILES.items():
        p = LatencyProfile.load(file)
        for alpha in ALPHAS:
            ar = expected_throughput(p, "ar", alpha, 1, runs=1, **RUN)
            sps_b, sps = best(p, "sps", alpha)
            paper_b, paper = best(p, "duo", alpha, catch_up=0, outcomes=False)
            duo = expected_throughput(p, "duo", alpha, "auto", runs=8, outcome_hit=OUTCOME_HIT, **RUN)
            ideal, _ = ideal_speedup(p, alpha)
            rows.append({"profile": name, "alpha": alpha, "t_d/T_t(1)": p.draft_ms_per_token / p.target_ms(1),
                         "sps best": sps / ar, "sps γ": sps_b, "duo paper best": paper / ar, "paper γ": paper_b,
                         "duo default": duo / ar, "duo default / sps": duo / sps, "ideal": ideal,
                         "duo default / ideal": duo / ar / ideal})
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "duo_schedules_simulated.csv")
    print("simulated speedup over AR (equal drafters; duo uses a second core or the host CPU)")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
