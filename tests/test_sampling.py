"""The sampling module: filters and the verification rule, on hand-made distributions."""

import pytest
import torch

from duolab.sampling import SamplingConfig, logits_to_probs, verify_block


def test_greedy_is_a_point_mass_at_argmax():
    p = logits_to_probs(torch.tensor([0.1, 2.0, -1.0]), SamplingConfig(0.0))
    assert p.tolist() == [0.0, 1.0, 0.0]


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    p = logits_to_probs(logits, SamplingConfig(1.0, top_k=2))
    assert torch.allclose(p, torch.tensor([0.625, 0.375, 0.0, 0.0]))
    p = logits_to_probs(logits, SamplingConfig(1.0, top_p=0.8))  # 0.5 + 0.3 reaches 0.8
    assert torch.allclose(p, torch.tensor([0.625, 0.375, 0.0, 0.0]))
    p = logits_to_probs(logits, SamplingConfig(1.0, top_p=0.81))
    assert torch.allclose(p, torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95)
    p = logits_to_probs(logits, SamplingConfig(1.0, top_p=0.1))  # always keeps the top token
    assert p.tolist() == [1.0, 0.0, 0.0, 0.0]


def test_temperature_sharpens():
    logits = torch.tensor([1.0, 0.0])
    hot, cold = (logits_to_probs(logits, SamplingConfig(t))[0] for t in (2.0, 0.5))
    assert cold > hot > 0.5


def test_greedy_verification_accepts_exactly_the_matching_prefix():
    target = torch.nn.functional.one_hot(torch.tensor([3, 1, 2, 0]), 4).float()
    v = verify_block(target, [3, 1, 0], None, None)
    assert (v.accepted, v.next_token) == (2, 2)
    v = verify_block(target, [3, 1, 2], None, None)
    assert (v.accepted, v.next_token) == (3, 0)


@pytest.mark.parametrize("deterministic", [False, True])
def test_one_step_verification_outputs_target_distribution(deterministic):
    p = torch.tensor([0.1, 0.6, 0.3])
    q = torch.tensor([0.5, 0.2, 0.3])
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(3)
    n = 40000
    for _ in range(n):
        if deterministic:
            d, rows = 0, None  # a fixed guess, e.g. the draft's argmax
        else:
            d = int(torch.multinomial(q, 1, generator=gen))
            rows = q[None]
        v = verify_block(torch.stack([p, p]), [d], rows, gen)
        counts[d if v.accepted else v.next_token] += 1
    assert torch.allclose(counts / n, p, atol=0.01)


def test_an_all_zero_residual_falls_back_to_p(monkeypatch):
    # p and q agree except on the draft token, where rounding left q(d) above p(d): max(p - q, 0)
    # is all zeros, and normalising it would be 0/0 (NaN, and multinomial raises)
    import duolab.sampling

    p = torch.tensor([0.5, 0.25, 0.25])
    q = torch.tensor([0.5, 0.25, 0.2500001])
    assert (p - q).clamp_min(0).sum() == 0
    monkeypatch.setattr(duolab.sampling, "_uniform", lambda generator: 0.99999999)  # force the rejection
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(3)
    for _ in range(4000):
        v = verify_block(torch.stack([p, p]), [2], q[None], gen)
        assert v.accepted == 0
        counts[v.next_token] += 1
    assert torch.allclose(counts / 4000, p, atol=0.025)  # the correction is drawn from p
    # deterministic draft (q a point mass) when p has all its mass on d but reads just below 1
    p = torch.tensor([0.0, 0.99999994, 0.0])
    v = verify_block(torch.stack([p, p]), [1], None, gen)
    assert (v.accepted, v.next_token) == (0, 1)


