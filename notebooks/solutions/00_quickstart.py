# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 00-1
import duolab
from duolab.prompts import load_prompts

g = duolab.generate(pair, load_prompts("math_reasoning")[0], method="sps", budget=4, max_new_tokens=32)
answer = g.stats["new_tokens"] / g.stats["target_forwards"]

# %% 00-2
answer = False  # the target says 7; the reference says 10

# %% 00-3
runs = [duolab.generate(pair, load_prompts("math_reasoning")[0], method=m, max_new_tokens=32,
                        temperature=0.8, seed=0) for m in ("ar", "sps")]
answer = runs[0].token_ids == runs[1].token_ids  # False: same distribution, different draws
