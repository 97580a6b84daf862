"""The exact reference distribution: generation stops at EOS, so must the reference."""

import pytest
import torch

from duolab import load_pair
from duolab.lab.lossless import END, chi_square_test, exact_prefix_distribution, sample_prefixes
from duolab.sampling import SamplingConfig

PROMPT = "def f(x):"
EOS_SHARE = 0.1


@pytest.fixture(scope="module")
def eos_pair(toy_paths):
    """The toy pair with the target's EOS row set so that EOS takes EOS_SHARE of the first token
    (the row is along the last hidden state, so other positions get other EOS probabilities)."""
    pair = load_pair(*toy_paths)
    ids = pair.tokenizer.encode(PROMPT)
    eos = pair.eos_token_id
    with torch.no_grad():
        out = pair.target(torch.tensor([ids]), output_hidden_states=True)
        h, logits = out.hidden_states[-1][0, -1], out.logits[0, -1]
        others = torch.logsumexp(torch.cat([logits[:eos], logits[eos + 1:]]), 0)
        want = torch.logit(torch.tensor(EOS_SHARE)) + others  # logit giving EOS that share
        pair.target.lm_head.weight[eos] = want * h / h.dot(h)
    yield pair
    pair.close()


def test_a_prefix_ending_in_eos_is_closed(eos_pair):
    sampling = SamplingConfig(1.0)
    eos = eos_pair.eos_token_id
    expected = exact_prefix_distribution(eos_pair, PROMPT, sampling, n_tokens=3)
    for key in expected:
        assert len(key) == 3
        if eos in key:  # nothing but END after an EOS
            assert all(t == END for t in key[key.index(eos) + 1:]), key
    first_eos = {k: p for k, p in expected.items() if k[0] == eos}
    # all of EOS's first-token mass in one closed prefix (the old reference expanded it again and
    # spread it over more than a hundred continuations, losing what fell below min_prob)
    assert list(first_eos) == [(eos, END, END)]
    assert first_eos[(eos, END, END)] == pytest.approx(EOS_SHARE, rel=1e-4)
    print(f"{len(expected)} prefixes, pruned mass {1 - sum(expected.values()):.4f}, "
          f"EOS-first mass {first_eos[(eos, END, END)]:.4f} in {len(first_eos)} prefix")
    # and AR's own samples fit it (the old reference fails this: p ~ 1e-9)
    counts = sample_prefixes(eos_pair, PROMPT, "ar", 500, sampling, n_tokens=3, seed=11, max_new_tokens=3)
    assert counts[(eos, END, END)] > 0.05 * 500
    stat, dof, p = chi_square_test(counts, expected)
    assert p > 1e-3, f"chi2={stat:.1f} dof={dof} p={p:.2e}"


def test_bad_reference_arguments(toy_pair):
    with pytest.raises(ValueError, match="n_tokens"):
        exact_prefix_distribution(toy_pair, PROMPT, SamplingConfig(1.0), n_tokens=0)
    with pytest.raises(ValueError, match="min_prob"):
        exact_prefix_distribution(toy_pair, PROMPT, SamplingConfig(1.0), min_prob=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        sample_prefixes(toy_pair, PROMPT, "ar", 1, SamplingConfig(1.0), n_tokens=3, max_new_tokens=2)


def test_letter_tokenizer():
    from recipe.toy import build_letter_tokenizer

    tok = build_letter_tokenizer(3)
    assert len(tok) == 6 and tok.encode("abca") == [3, 4, 5, 3] and tok.decode([3, 4, 5]) == "abc"
    for bad in (1, 27, True, "3"):
        with pytest.raises(ValueError, match="n_letters"):
            build_letter_tokenizer(bad)
