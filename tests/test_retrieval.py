"""Retrieved chains in sps and duo (`retrieval=`): prompt lookup's proposals verified in the same
forward as the model's drafts. Lossless: token for token equal to AR under greedy (fp32), and at
T > 0 each retrieved token, a point mass, passes with probability p(token) and a rejection draws
from p without it; a verifier that resamples from p there is caught."""

import pytest

from duolab import generate
from duolab.lab.lossless import chi_square_test, exact_prefix_distribution, sample_prefixes
from duolab.methods.drafting import Chain
from duolab.methods.retrieval import PromptLookupDrafter
from duolab.methods.token_tree import TokenTree
from duolab.prompts import TASKS
from duolab.sampling import SamplingConfig
from tests.conftest import assert_matches_ar, broken_tree_verify, identity_prompts

VARIANTS = {"sps": {"budget": 3, "retrieval": 8, "lookup_first": False}, "duo": {"retrieval": 8}}
AUTO = {"sps": {"budget": 3, "retrieval": "auto"}, "duo": {"retrieval": "auto"}}
SAMPLING_CASES = [SamplingConfig(1.0), SamplingConfig(0.7, 0, 0.9)]
PROMPT = "abcab"  # "ab" occurred before: prompt lookup proposes "c a b" in the first round


@pytest.mark.parametrize("task", TASKS)
def test_greedy_equals_ar_with_retrieval(default_pair, task):
    retrieved = branches = 0
    for prompt in identity_prompts(task):
        ar = generate(default_pair, prompt, max_new_tokens=48)
        for method in VARIANTS:
            for options in (VARIANTS[method], AUTO[method]):
                g = generate(default_pair, prompt, method=method, max_new_tokens=48, **options)
                assert_matches_ar(default_pair, prompt, ar, g, (method, options, task, prompt))
                s = g.stats
                retrieved, branches = retrieved + s["retrieved_accepted"], branches + s["retrieval_branch_rounds"]
                assert s["retrieved_accepted"] <= s["retrieved_tokens"]
                assert s["retrieval_branch_rounds"] <= s["retrieval_rounds"] <= s["rounds"]
    assert retrieved > 0  # the retrieved path was taken, and some of it passed
    if task != "qa":  # (qa's short answers copy little)
        assert branches > 0  # and a branch beside the model's tokens decided a round


def _fit(pair, method, sampling, n_samples, **options):
    expected = exact_prefix_distribution(pair, PROMPT, sampling, n_tokens=3, min_prob=1e-6)
    counts = sample_prefixes(pair, PROMPT, method, n_samples, sampling, n_tokens=3, seed=5000,
                             max_new_tokens=5, **options)
    return chi_square_test(counts, expected)


def _options(method: str) -> dict:
    return {**VARIANTS[method], "retrieval": 3} | ({"budget": 1} if method == "sps" else {})


def guesses(self, context, n, max_chains=1):
    """A retrieval source that always proposes: up to two chains of guessed tokens after any context
    (a function of the context only, as lookup's are). On the letter pair, lookup's own chains are
    rarely tried beside the model's tokens; exactness must hold whatever is proposed, and these
    make every round a tree with branches."""
    first = [(sum(context) + 3 * k) % 6 for k in range(max_chains)]
    return [Chain([f] + [(f + i) % 6 for i in range(1, n)], [1.0] * n, [[]] * n, len(context), "lookup", match=1)
            for f in dict.fromkeys(first)]


@pytest.fixture
def guessing_source(monkeypatch):
    monkeypatch.setattr(PromptLookupDrafter, "chains", guesses)


def _branches_tried(pair, method, monkeypatch) -> int:
    """Rounds (over 20 seeds) where the verifier tried a second child of a node: the first was
    rejected, so it went on to a retrieved branch with what was left of p (for sps, beside a
    draft sampled from q)."""
    tried, verify = [0], TokenTree.verify

    def spy(tree, probs, generator):
        verdict = verify(tree, probs, generator)
        for node, taken in zip([-1, *verdict.path], [*verdict.path, None], strict=True):
            kids = [c for c in range(len(tree)) if tree.parents[c] == node]
            tried[0] += len(kids) >= 2 and taken != kids[0]
        return verdict

    monkeypatch.setattr(TokenTree, "verify", spy)
    for seed in range(20):
        generate(pair, PROMPT, method=method, max_new_tokens=5, temperature=1.0, seed=seed, **_options(method))
    monkeypatch.setattr(TokenTree, "verify", verify)
    return tried[0]


@pytest.mark.parametrize("sampling", SAMPLING_CASES, ids=["T1.0", "T0.7-top_p0.9"])
@pytest.mark.parametrize("method", list(VARIANTS))
def test_retrieval_sampling_is_lossless(letter_pair, rough_letter_pair, method, sampling, guessing_source, monkeypatch):
    # sps on the pair with the noisier draft head: its drafts are rejected often enough to try the branches
    pair = rough_letter_pair if method == "sps" else letter_pair
    tried = _branches_tried(pair, method, monkeypatch)
    print(f"{method}: {tried} rounds tried a branch beside the model's tokens")
    assert tried > 0  # the test is about verifying such trees
    stat, dof, p = _fit(pair, method, sampling, 400, **_options(method))
    print(f"{method} with retrieval, {sampling}: chi2={stat:.1f} dof={dof} p={p:.3g}")
    assert dof >= 10
    assert p > 1e-3, f"chi2={stat:.1f} dof={dof} p={p:.2e}"


@pytest.mark.parametrize("method", list(VARIANTS))
def test_the_test_catches_a_broken_residual_for_retrieved_tokens(letter_pair, rough_letter_pair, guessing_source,
                                                                monkeypatch, method):
    monkeypatch.setattr(TokenTree, "verify", broken_tree_verify("lookup"))  # the model's drafts keep the right rule
    pair = rough_letter_pair if method == "sps" else letter_pair
    # (sps tries a retrieved branch in fewer rounds than duo: more samples to see the break)
    stat, dof, p = _fit(pair, method, SAMPLING_CASES[0], 1600 if method == "sps" else 800, **_options(method))
    print(f"{method} with retrieval, broken residual: chi2={stat:.1f} dof={dof} p={p:.3g}")
    assert p < 1e-3, f"a broken verifier went unnoticed: chi2={stat:.1f} dof={dof} p={p:.2e}"


def test_bad_retrieval_options(toy_pair):
    for method in VARIANTS:
        for bad in (-1, 1.5, "8", "Auto", True):
            with pytest.raises(ValueError, match="retrieval must be 'auto' .* or an integer >= 0"):
                generate(toy_pair, "def f(x):", method=method, retrieval=bad)
    with pytest.raises(ValueError, match="lookup_first must be True or False"):
        generate(toy_pair, "def f(x):", method="sps", retrieval=4, lookup_first=1)

