# Solutions to this notebook's exercises. Each block replaces the answer lines of the exercise cell
# with the same id (between its "# Exercise" line and its check(...) call); tests/test_exercises.py
# runs them. They read committed files only: no built pair is needed.

# %% 07-1
import pandas as pd

from duolab.paths import DATA_DIR

quality = pd.read_csv(DATA_DIR / "results" / "real_pair_quality.csv")
answer = int((quality.agreement >= 0.5).sum())

# %% 07-2
from transformers import AutoTokenizer

from duolab.paths import REAL_DRAFT
from duolab.prompts import load_prompts

tok = AutoTokenizer.from_pretrained(str(REAL_DRAFT))
text = load_prompts("mt_bench", 1)[0]
chat = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
answer = len(tok.encode(chat)) - len(tok.encode(text))
