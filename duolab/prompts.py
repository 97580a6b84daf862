"""The seven tasks and their committed held-out prompt sets (data/prompts/<task>.jsonl).

The generators that wrote those sets live in the model-building recipe (recipe/tasks.py).
"""

from __future__ import annotations

import json

from duolab.paths import DATA_DIR

TASKS = ("mt_bench", "translation", "summarization", "qa", "math_reasoning", "rag", "humaneval")


def load_prompts(task: str, n: int | None = None) -> list[str]:
    """The first n prompts of the shipped held-out set data/prompts/<task>.jsonl."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    path = DATA_DIR / "prompts" / f"{task}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["prompt"] for r in rows[:n]]


def spread_prompts(task: str, n: int) -> list[str]:
    """n prompts from both ends of the task's set: the first ceil(n/2) and the last floor(n/2)
    (the first prompts alone can flatter a method: prompt lookup's speedup differed 1.45x between
    two sets of prompts of the real pair)."""
    prompts = load_prompts(task)
    head, tail = (n + 1) // 2, n // 2
    return prompts[:head] + (prompts[-tail:] if tail else [])
