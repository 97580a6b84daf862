# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 04-1
# first position: 1 * 0.08 = 0.08; second: 0.9 (the first passed) * 0.3 = 0.27
answer = (11, 7)  # prefix length 10 + 1 accepted token, corrected to token 7

# %% 04-2
answer = 0.9 * 0.8 * 0.7  # every token must pass
