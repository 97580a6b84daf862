# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 02-1
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR

cpu = LatencyProfile.load(DATA_DIR / "profiles" / "cpu-2core.json")
answer = cpu.target_ms(8) / cpu.target_ms(1)

# %% 02-2
answer = cpu.draft_ms_per_token / cpu.target_ms(1)

# %% 02-3
h100 = LatencyProfile.load(DATA_DIR / "profiles" / "h100-fp32.json")
slopes = {"cpu": cpu.target_ms(9) / cpu.target_ms(1), "h100": h100.target_ms(9) / h100.target_ms(1)}
answer = min(slopes, key=slopes.get)
