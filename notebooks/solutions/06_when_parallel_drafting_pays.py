# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 06-1
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR
from duolab.timing.regime import BAND, regime_point

ratio, slope = regime_point(LatencyProfile.load(DATA_DIR / "profiles" / "h100-fp32.json"))
answer = BAND[0] <= ratio < BAND[1]

# %% 06-2
from duolab.timing.regime import duo_over_sps, synthetic_profile

base = LatencyProfile.load(DATA_DIR / "profiles" / "cpu-2core.json")
answer = duo_over_sps(synthetic_profile(base, 0.25, 1.0), 0.9, runs=4)["duo_over_sps"] > 1
