"""SpS, PLD and HF assisted generation: token-for-token AR under greedy, lossless under sampling."""

import pytest
import torch

import duolab.decoding
from duolab import generate
from duolab.lossless import chi_square_test, exact_prefix_distribution, sample_prefixes
from duolab.sampling import BlockVerdict, SamplingConfig, sample
from duolab.tasks import TASKS
from tests.conftest import task_prompts

SPECULATIVE = [("sps", {"budget": 4}), ("sps", {"budget": 1}), ("pld", {"budget": 6}), ("hf", {"budget": 4})]


@pytest.mark.parametrize("task", TASKS)
def test_greedy_equals_ar_on_every_task_default_pair(default_pair, task):
    for prompt in task_prompts(task, 20):
        ar = generate(default_pair, prompt, method="ar", max_new_tokens=32).token_ids
        for method, options in SPECULATIVE:
            got = generate(default_pair, prompt, method=method, max_new_tokens=32, **options).token_ids
            assert got == ar, (task, method, options, prompt[:50])


@pytest.mark.parametrize("budget", [1, 2, 5, 16])
def test_greedy_equals_ar_toy_pair_many_budgets(toy_pair, budget):
    for i in range(6):
        prompt = f"class Model{i}:\n    def forward(self, x):"
        ar = generate(toy_pair, prompt, max_new_tokens=40).token_ids
        for method in ("sps", "pld"):
            assert generate(toy_pair, prompt, method=method, budget=budget, max_new_tokens=40).token_ids == ar


def test_speculative_stats_are_consistent(toy_pair):
    g = generate(toy_pair, "def forward(self, x):", method="sps", budget=3, max_new_tokens=40)
    s = g.stats
    assert s["tau"] == pytest.approx(s["new_tokens"] / s["target_forwards"])
    assert s["draft_tokens"] <= 3 * s["rounds"] and s["accepted_tokens"] <= s["draft_tokens"]
    assert s["accepted_tokens"] + s["rounds"] >= s["new_tokens"]  # each round adds accepted + 1
    assert len(s["acceptance_by_position"]) == 3
    assert all(0.0 <= a <= 1.0 for a in s["acceptance_by_position"])
    assert s["ttft_s"] <= s["wall_time_s"]
    assert {"draft", "target"} <= set(g.trace["side"])


SAMPLING_CASES = [SamplingConfig(1.0), SamplingConfig(0.7, 0, 0.9)]
PROMPT = "def f(x):"
N_SAMPLES = 4000


@pytest.mark.parametrize("sampling", SAMPLING_CASES, ids=["T1.0", "T0.7-top_p0.9"])
def test_sps_sampling_is_lossless(toy_pair, sampling):
    expected = exact_prefix_distribution(toy_pair, PROMPT, sampling, n_tokens=3)
    counts = sample_prefixes(toy_pair, PROMPT, "sps", N_SAMPLES, sampling, seed=1000, budget=2,
                             n_tokens=3)
    stat, dof, p = chi_square_test(counts, expected)
    assert dof >= 5
    assert p > 1e-3, f"chi2={stat:.1f} dof={dof} p={p:.2e}"


def broken_verify_block(target_probs, draft_tokens, draft_probs, generator):
    """The classic mistake: resample the correction from p instead of norm(max(0, p - q))."""
    for i, tok in enumerate(draft_tokens):
        p, q = float(target_probs[i, tok]), float(draft_probs[i, tok])
        if p >= q or float(torch.rand((), generator=generator)) * q < p:
            continue
        return BlockVerdict(i, sample(target_probs[i], generator))
    return BlockVerdict(len(draft_tokens), sample(target_probs[-1], generator))


def test_the_test_catches_a_broken_residual_rule(toy_pair, monkeypatch):
    monkeypatch.setattr(duolab.decoding, "verify_block", broken_verify_block)
    sampling = SAMPLING_CASES[0]
    expected = exact_prefix_distribution(toy_pair, PROMPT, sampling)
    counts = sample_prefixes(toy_pair, PROMPT, "sps", N_SAMPLES, sampling, seed=1000, budget=2)
    stat, dof, p = chi_square_test(counts, expected)
    assert p < 1e-6, f"a broken verifier went unnoticed: chi2={stat:.1f} dof={dof} p={p:.2e}"
