# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 06-1
from duolab.latency_profile import LatencyProfile, measured_profiles
from duolab.paths import DATA_DIR
from duolab.predict.regime import BAND, regime_point

answer = sum(BAND[0] <= regime_point(p)[0] < BAND[1] for p in measured_profiles().values())

# %% 06-2
from duolab.predict.regime import duo_over_sps, synthetic_profile

base = LatencyProfile.load(DATA_DIR / "profiles" / "cpu-2core.json")
answer = round(duo_over_sps(synthetic_profile(base, 0.25, 1.0), 0.9, runs=4)["duo_over_sps"], 2)
