# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. An exercise cell may use `pair` (the shipped pair) and what the notebook defined.

# %% 00-1
import duolab
from duolab.prompts import load_prompts

g = duolab.generate(pair, load_prompts("math_reasoning")[0], method="sps", budget=2, max_new_tokens=48)
answer = round(g.stats["new_tokens"] / g.stats["target_forwards"], 2)

# %% 00-2
import re

text = duolab.generate(pair, load_prompts("math_reasoning")[0], method="ar", max_new_tokens=128).text
# the number after "answer is", else the last number in the text
found = re.findall(r"answer is\s*(-?\d+)", text) or re.findall(r"-?\d+", text)
answer = int(found[-1])  # 7: the reference says 10

# %% 00-3
ar_ids, pld_ids = (duolab.generate(pair, load_prompts("math_reasoning")[0], method=m, max_new_tokens=32).token_ids
                   for m in ("ar", "pld"))
answer = sum(a == b for a, b in zip(ar_ids, pld_ids))  # all 32: the drafter changes the speed, never the tokens
