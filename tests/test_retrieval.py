"""Retrieved chains in sps and duo (`retrieval=`): prompt lookup's proposals verified in the same
forward as the model's drafts. Lossless: token for token equal to AR under greedy (fp32), and at
T > 0 each retrieved token, a point mass, passes with probability p(token) and a rejection draws
from p without it; a verifier that resamples from p there is caught."""

import pytest
import torch

import duolab.methods.duo
import duolab.methods.speculative
from duolab import generate
from duolab.lab.lossless import chi_square_test, exact_prefix_distribution, sample_prefixes
from duolab.methods.drafting import Chain
from duolab.prompts import TASKS
from duolab.sampling import BlockVerdict, SamplingConfig, sample, verify_block
from tests.conftest import assert_matches_ar, identity_prompts

VARIANTS = {"sps": {"budget": 3, "retrieval": 8}, "duo": {"retrieval": 8}}
SAMPLING_CASES = [SamplingConfig(1.0), SamplingConfig(0.7, 0, 0.9)]
PROMPT = "abcab"  # "ab" occurred before: prompt lookup proposes "c a b" in the first round


@pytest.mark.parametrize("task", TASKS)
def test_greedy_equals_ar_with_retrieval(default_pair, task):
    retrieved = 0
    for prompt in identity_prompts(task):
        ar = generate(default_pair, prompt, max_new_tokens=48)
        for method, options in VARIANTS.items():
            g = generate(default_pair, prompt, method=method, max_new_tokens=48, **options)
            assert_matches_ar(default_pair, prompt, ar, g, (method, task, prompt))
            retrieved += g.stats["retrieved_accepted"]
            assert g.stats["retrieved_accepted"] <= g.stats["retrieved_tokens"]
    assert retrieved > 0  # the retrieved path was taken, and some of it passed


def test_a_chain_after_sampled_drafts_is_verified_as_point_masses():
    q = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    model = Chain([0, 2], [0.5, 0.5], [[], []], 10, "model", q)
    joined = model.then(Chain([1], [1.0], [[]], 12, "lookup"))
    assert joined.tokens == [0, 2, 1] and joined.origin == "model+lookup" and joined.start == 10
    assert torch.equal(joined.q[2], torch.tensor([0.0, 1.0, 0.0])) and torch.equal(joined.q[:2], q)
    assert model.then(Chain()).tokens == [0, 2] and Chain().then(joined).origin == "model+lookup"


def _fit(pair, method, sampling, n_samples, **options):
    expected = exact_prefix_distribution(pair, PROMPT, sampling, n_tokens=3, min_prob=1e-6)
    counts = sample_prefixes(pair, PROMPT, method, n_samples, sampling, n_tokens=3, seed=5000,
                             max_new_tokens=5, **options)
    return chi_square_test(counts, expected)


@pytest.mark.parametrize("sampling", SAMPLING_CASES, ids=["T1.0", "T0.7-top_p0.9"])
@pytest.mark.parametrize("method", list(VARIANTS))
def test_retrieval_sampling_is_lossless(letter_pair, method, sampling):
    options = {**VARIANTS[method], "retrieval": 3} | ({"budget": 2} if method == "sps" else {})
    g = generate(letter_pair, PROMPT, method=method, max_new_tokens=5, temperature=1.0, seed=0, **options)
    assert g.stats["retrieved_tokens"] > 0  # the test is about verifying retrieved chains
    stat, dof, p = _fit(letter_pair, method, sampling, 400, **options)
    print(f"{method} with retrieval, {sampling}: chi2={stat:.1f} dof={dof} p={p:.3g}")
    assert dof >= 10
    assert p > 1e-3, f"chi2={stat:.1f} dof={dof} p={p:.2e}"


class BrokenForRetrieved:
    """Verification with the classic mistake at the retrieved tokens only: on a rejection there,
    resample from p instead of p without the rejected token. The model's drafts keep the right
    rule. It learns how many tokens at the end of a verified chain were retrieved from the last
    `retrieve` call of the decoder's module."""

    def __init__(self, module, monkeypatch):
        self.retrieved = 0
        real_retrieve = module.retrieve

        def retrieve(source, context, cap):
            chain = real_retrieve(source, context, cap)
            self.retrieved = len(chain)
            return chain

        monkeypatch.setattr(module, "retrieve", retrieve)
        monkeypatch.setattr(module, "verify_block", self.verify)

    def verify(self, target_probs, draft_tokens, draft_probs, generator):
        first = len(draft_tokens) - self.retrieved
        right = verify_block(target_probs[:first + 1], draft_tokens[:first],
                             None if draft_probs is None else draft_probs[:first], generator)
        if right.accepted < first or not self.retrieved:
            return right
        for i in range(first, len(draft_tokens)):
            if float(torch.rand((), generator=generator)) >= float(target_probs[i, draft_tokens[i]]):
                return BlockVerdict(i, sample(target_probs[i], generator))  # wrong: p, not its residual
        return BlockVerdict(len(draft_tokens), sample(target_probs[-1], generator))


@pytest.mark.parametrize("method", list(VARIANTS))
def test_the_test_catches_a_broken_residual_for_retrieved_tokens(letter_pair, monkeypatch, method):
    BrokenForRetrieved(getattr(duolab.methods, "speculative" if method == "sps" else "duo"), monkeypatch)
    options = {**VARIANTS[method], "retrieval": 3} | ({"budget": 2} if method == "sps" else {})
    stat, dof, p = _fit(letter_pair, method, SAMPLING_CASES[0], 800, **options)
    print(f"{method} with retrieval, broken residual: chi2={stat:.1f} dof={dof} p={p:.3g}")
    assert p < 1e-3, f"a broken verifier went unnoticed: chi2={stat:.1f} dof={dof} p={p:.2e}"


def test_bad_retrieval_options(toy_pair):
    for method in VARIANTS:
        for bad in (-1, 1.5, "8", True):
            with pytest.raises(ValueError, match="retrieval must be an integer >= 0"):
                generate(toy_pair, "def f(x):", method=method, retrieval=bad)

