"""SpS, PLD and HF assisted generation: greedy output equals AR (exactly in fp32, up to rounding
ties in half precision), sampled output has AR's distribution (chi-square tests with negative controls)."""

import pytest
import torch

from duolab import generate
from duolab.lab.lossless import chi_square_test, exact_prefix_distribution, sample_prefixes
from duolab.methods.token_tree import TokenTree
from duolab.prompts import TASKS
from duolab.sampling import SamplingConfig
from tests.conftest import assert_matches_ar, broken_tree_verify, identity_prompts

SPECULATIVE = [("sps", {"budget": 4}), ("sps", {"budget": 1}), ("pld", {"budget": 6}), ("hf", {"budget": 4})]


@pytest.mark.parametrize("task", TASKS)
def test_greedy_equals_ar_on_every_task_default_pair(default_pair, task):
    # exact in fp32 (the CPU default); tie-aware where load_pair put the target in fp16 (CUDA)
    for prompt in identity_prompts(task):
        ar = generate(default_pair, prompt, method="ar", max_new_tokens=32)
        for method, options in SPECULATIVE:
            got = generate(default_pair, prompt, method=method, max_new_tokens=32, **options)
            assert_matches_ar(default_pair, prompt, ar, got, (task, method, options, prompt[:50]))


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


# sps, pld and hf on the letter pair (6 tokens, EOS likely): the exact distribution of 3 tokens is
# small, so a few hundred samples give a sharp test
LETTERS_PROMPT = "abcab"  # "ab" occurred before, so prompt lookup proposes "c a b" from the first round


def letters_fit(pair, method, sampling, n_samples, seed=3000, **options):
    expected = exact_prefix_distribution(pair, LETTERS_PROMPT, sampling, n_tokens=3, min_prob=1e-6)
    counts = sample_prefixes(pair, LETTERS_PROMPT, method, n_samples, sampling, n_tokens=3, seed=seed,
                             max_new_tokens=5, **options)
    return chi_square_test(counts, expected)


def assert_lossless(pair, method, sampling, n_samples, **options):
    stat, dof, p = letters_fit(pair, method, sampling, n_samples, **options)
    print(f"{method} {sampling}: chi2={stat:.1f} dof={dof} p={p:.3g}")
    assert dof >= 10
    assert p > 1e-3, f"chi2={stat:.1f} dof={dof} p={p:.2e}"


def assert_caught(pair, method, n_samples, **options):
    """The negative control: with a broken verifier patched in, the same test must fail."""
    stat, dof, p = letters_fit(pair, method, SAMPLING_CASES[0], n_samples, **options)
    print(f"{method}, broken residual: chi2={stat:.1f} dof={dof} p={p:.3g}")
    assert p < 1e-3, f"a broken verifier went unnoticed: chi2={stat:.1f} dof={dof} p={p:.2e}"


@pytest.mark.parametrize("sampling", SAMPLING_CASES, ids=["T1.0", "T0.7-top_p0.9"])
def test_pld_sampling_is_lossless(letter_pair, sampling):
    g = generate(letter_pair, LETTERS_PROMPT, method="pld", max_new_tokens=5, temperature=1.0, seed=0)
    assert g.stats["draft_tokens"] > 0  # the test is about verifying lookup drafts
    assert_lossless(letter_pair, "pld", sampling, 400, budget=3)


def test_the_pld_test_catches_a_broken_residual_rule(letter_pair, monkeypatch):
    monkeypatch.setattr(TokenTree, "verify", broken_tree_verify())
    assert_caught(letter_pair, "pld", 300, budget=3)


@pytest.mark.parametrize("sampling", SAMPLING_CASES, ids=["T1.0", "T0.7-top_p0.9"])
def test_sps_sampling_is_lossless(rough_letter_pair, sampling):
    assert_lossless(rough_letter_pair, "sps", sampling, 400, budget=2)


def test_the_test_catches_a_broken_residual_rule(rough_letter_pair, monkeypatch):
    monkeypatch.setattr(TokenTree, "verify", broken_tree_verify())
    assert_caught(rough_letter_pair, "sps", 500, budget=2)


@pytest.mark.parametrize("sampling", SAMPLING_CASES, ids=["T1.0", "T0.7-top_p0.9"])
def test_hf_sampling_is_lossless(rough_letter_pair, sampling):
    assert_lossless(rough_letter_pair, "hf", sampling, 300, budget=3)


def hf_broken_speculative_sampling(candidate_input_ids, candidate_logits, candidate_length, new_logits, **kwargs):
    """transformers' verifier with the classic mistake: on a rejection, resample from p."""
    drafts = candidate_input_ids[0, -candidate_length:]
    q, p = candidate_logits[0].softmax(-1), new_logits[0].softmax(-1)
    n = 0
    while n < candidate_length and float(torch.rand(())) * q[n, drafts[n]] <= p[n, drafts[n]]:
        n += 1
    t = torch.multinomial(p[n], 1)
    return torch.cat([drafts[:n], t])[None], n


def test_the_hf_test_catches_a_broken_residual_rule(rough_letter_pair, monkeypatch):
    import transformers.generation.utils as hf_utils

    monkeypatch.setattr(hf_utils, "_speculative_sampling", hf_broken_speculative_sampling)
    assert_caught(rough_letter_pair, "hf", 200, budget=3)
