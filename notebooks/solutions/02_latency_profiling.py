# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 02-1
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR

cpu = LatencyProfile.load(DATA_DIR / "profiles" / "cpu-2core.json")
answer = round(cpu.target_ms(8) / cpu.target_ms(1), 2)

# %% 02-2
answer = round(cpu.draft_ms_per_token / cpu.target_ms(1), 3)

# %% 02-3
from duolab.latency_profile import measured_profiles

slopes = {name: p.target_ms(9) / p.target_ms(1) for name, p in measured_profiles().items()}
answer = min(slopes, key=slopes.get)
