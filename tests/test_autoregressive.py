"""AR decoding equals transformers' own greedy generate, token for token."""

import pytest
import torch

from duolab import generate
from duolab.prompts import TASKS
from tests.conftest import task_prompts


def hf_greedy(pair, prompt, n):
    ids = torch.tensor([pair.tokenizer.encode(prompt)])
    out = pair.target.generate(ids, do_sample=False, max_new_tokens=n,
                               pad_token_id=pair.tokenizer.pad_token_id, eos_token_id=pair.eos_token_id)
    return out[0, ids.shape[1]:].tolist()


def test_ar_greedy_equals_transformers_generate_on_default_pair(default_pair):
    prompts = [p for task in TASKS for p in task_prompts(task, 2)]
    assert len(prompts) >= 10
    for prompt in prompts:
        g = generate(default_pair, prompt, method="ar", max_new_tokens=32)
        assert g.token_ids == hf_greedy(default_pair, prompt, 32), prompt[:60]


def test_ar_greedy_equals_transformers_generate_on_toy_pair(toy_pair):
    prompts = [f"def f{i}(x):\n    return x * {i}" for i in range(10)]
    for prompt in prompts:
        g = generate(toy_pair, prompt, method="ar", max_new_tokens=24)
        assert g.token_ids == hf_greedy(toy_pair, prompt, 24)


def test_stats_and_stop_conditions(toy_pair):
    g = generate(toy_pair, "def f(x):", max_new_tokens=7)
    s = g.stats
    assert len(g.token_ids) == s["new_tokens"] <= 7
    assert s["target_forwards"] == s["new_tokens"] and s["tau"] == 1.0
    assert 0 < s["ttft_s"] <= s["wall_time_s"]
    assert s["tokens_per_s"] == pytest.approx(s["new_tokens"] / s["wall_time_s"])
    if s["stop_reason"] == "eos":
        assert g.token_ids[-1] == toy_pair.eos_token_id
    else:
        assert s["new_tokens"] == 7
    assert set(g.trace["side"]) == {"target"} and len(g.trace) == s["target_forwards"]


def test_seed_makes_sampling_reproducible(toy_pair):
    a = generate(toy_pair, "def f(x):", max_new_tokens=20, temperature=1.0, seed=11)
    b = generate(toy_pair, "def f(x):", max_new_tokens=20, temperature=1.0, seed=11)
    c = generate(toy_pair, "def f(x):", max_new_tokens=20, temperature=1.0, seed=12)
    assert a.token_ids == b.token_ids
    assert a.token_ids != c.token_ids


@pytest.mark.parametrize("task", TASKS)
def test_task_prompts_fit_the_context(default_pair, task):
    prompts = task_prompts(task)
    assert len(prompts) >= 40
    for p in prompts:
        assert len(default_pair.tokenizer.encode(p)) + 128 <= default_pair.context_length
