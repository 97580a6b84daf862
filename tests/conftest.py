
import pytest
import torch

from duolab.models import load_pair
from duolab.tasks import load_prompts
from duolab.toy import build_toy_pair

torch.set_num_threads(1)  # two cores: keep tests from oversubscribing them


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
    return load_prompts(task, n)
