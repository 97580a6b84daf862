# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 05-1
import pandas as pd

from duolab.paths import DATA_DIR

fair = pd.read_csv(DATA_DIR / "results" / "methods_fair.csv").set_index("task")
answer = fair["duo / sps best"].drop("median").idxmin()

# %% 05-2
answer = round(fair.loc["median", "duo ttft / sps best"], 2)
