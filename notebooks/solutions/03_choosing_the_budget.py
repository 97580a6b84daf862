# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 03-1
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR
from duolab.methods.round_policy import expected_accepted

cpu = LatencyProfile.load(DATA_DIR / "profiles" / "cpu-2core.json")


def rate(gamma, alpha=0.8):
    return expected_accepted(alpha, gamma) / (gamma * cpu.sps_draft_ms_per_token + cpu.target_ms(gamma + 1))


answer = max(range(1, 17), key=rate)

# %% 03-2
from duolab.predict.budget import BUDGETS

h100 = LatencyProfile.load(DATA_DIR / "profiles" / "h100-fp32.json")
answer = min(BUDGETS, key=lambda g: abs(h100.draft_ms(g) - h100.target_ms(g + 1)))
