"""One draft runner per pair: every method that runs the draft model drafts with it and says so."""

import pytest

from duolab import generate, load_pair
from duolab.prompts import TASKS
from tests.conftest import task_prompts

DRAFTING = ("sps", "duo")  # the methods that run the pair's draft model with the pair's runner


@pytest.fixture(scope="module", params=["fast", "transformers"])
def runner_pair(request, toy_paths):
    pair = load_pair(*toy_paths, draft_runner=request.param)
    yield pair
    pair.close()


def test_every_method_reports_the_pairs_draft_runner(runner_pair):
    prompt = "def load_pair(target"
    fixed = {"duo": {"budget": 4, "catch_up": 2}}  # no per-round choices: no profile to measure
    seen = {m: generate(runner_pair, prompt, method=m, max_new_tokens=12, **fixed.get(m, {})).stats
            for m in ("ar", "sps", "pld", "hf", "duo")}
    assert {seen[m]["draft_runner"] for m in DRAFTING} == {runner_pair.draft_runner}
    assert seen["ar"]["draft_runner"] is None and seen["pld"]["draft_runner"] is None
    assert seen["hf"]["draft_runner"] == "transformers (hf assistant)"  # hf keeps its own assistant
    assert {s["target_runner"] for s in seen.values()} == {"transformers"}


def test_auto_runner_is_fast_for_a_llama_on_the_cpu(toy_pair):
    assert toy_pair.draft_runner == "fast" and toy_pair.target_runner == "transformers"


@pytest.mark.parametrize("kwargs, message", [
    ({"draft_runner": "quick"}, "draft_runner must be one of"),
    ({"target_runner": "cuda"}, "target_runner must be one of"),
    ({"target_runner": "fast", "dtype": __import__("torch").bfloat16}, "float32 on the CPU"),
])
def test_bad_runner_choice_is_a_value_error(toy_paths, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_pair(*toy_paths, **kwargs)


def test_fast_target_runner_gives_ar_greedy_output(toy_paths, toy_pair):
    fast = load_pair(*toy_paths, target_runner="fast")
    for prompt in ("def generate(pair", "class Pair:", "import torch"):
        ref = generate(toy_pair, prompt, max_new_tokens=24).token_ids
        for method in ("ar", "sps", "duo"):
            options = {"budget": 4, "catch_up": 2} if method == "duo" else {}
            g = generate(fast, prompt, method=method, max_new_tokens=24, **options)
            assert g.token_ids == ref, (method, prompt)
            assert g.stats["target_runner"] == "fast"
    fast.close()


@pytest.mark.parametrize("task", TASKS)
def test_sps_with_either_runner_equals_ar_on_every_task(default_pair, task):
    # the default (fast) draft runner: test_speculative's identity tests; here the transformers one
    slow = _transformers_draft_pair()
    for prompt in task_prompts(task, 3):
        ref = generate(default_pair, prompt, max_new_tokens=48).token_ids
        g = generate(slow, prompt, method="sps", budget=4, max_new_tokens=48)
        assert g.token_ids == ref, (slow.draft_runner, prompt[-40:])


_SLOW: list = []


def _transformers_draft_pair():
    if not _SLOW:
        _SLOW.append(load_pair(draft_runner="transformers"))
    return _SLOW[0]
