import json
from pathlib import Path

import pytest
import torch

from duolab.models import DATA_DIR, load_pair
from duolab.toy import build_toy_pair

torch.set_num_threads(1)  # two cores: keep tests from oversubscribing them

TASKS = ["mt_bench", "translation", "summarization", "qa", "math_reasoning", "rag", "humaneval"]


@pytest.fixture(scope="session")
def toy_paths(tmp_path_factory):
    return build_toy_pair(tmp_path_factory.mktemp("toy_pair"))


@pytest.fixture(scope="session")
def toy_pair(toy_paths):
    return load_pair(*toy_paths)


@pytest.fixture(scope="session")
def default_pair():
    return load_pair()


def task_prompts(task: str, n: int | None = None) -> list[str]:
    path = DATA_DIR / "prompts" / f"{task}.jsonl"
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [r["prompt"] for r in rows[:n]]
