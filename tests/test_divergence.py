"""Greedy identity, stated exactly: fp32 is exact; half precision parts from AR only at rounding ties."""

import pytest
import torch

from duolab import first_divergence, generate, load_pair
from duolab.lab.divergence import resolution
from tests.conftest import assert_matches_ar


def test_resolution_is_one_unit_in_the_last_place():
    assert resolution(torch.float16, 12.5) == 2.0**-7  # 12.5 in [8, 16): 10 mantissa bits
    assert resolution(torch.bfloat16, -12.5) == 2.0**-4  # 7 mantissa bits; the sign does not matter
    assert resolution(torch.float32, 12.5) == 2.0**-20
    assert resolution(torch.float16, 0.0) == torch.finfo(torch.float16).eps * torch.finfo(torch.float16).tiny
    with pytest.raises(ValueError, match="floating point"):
        resolution(torch.int64, 1.0)


def test_first_divergence_reports_ar_logits_there(toy_pair):
    prompt = "def forward(self, x):"
    ar = generate(toy_pair, prompt, max_new_tokens=12)
    assert first_divergence(toy_pair, prompt, ar, list(ar.token_ids)) is None
    worst = ar.token_ids[:5] + [0] + ar.token_ids[6:]  # token 0 (<s>): far below AR's choice
    d = first_divergence(toy_pair, prompt, ar, worst)
    assert (d.position, d.reference_token, d.other_token) == (5, ar.token_ids[5], 0)
    assert d.top_two[0] == ar.token_ids[5] and d.gap >= d.top_two_gap > 0
    assert d.dtype == torch.float32 and not d.within_rounding
    runner_up = ar.token_ids[:5] + [d.top_two[1]] + ar.token_ids[6:]
    d2 = first_divergence(toy_pair, prompt, ar, runner_up)
    assert d2.gap == pytest.approx(d.top_two_gap) and not d2.within_rounding  # fp32: a real gap
    assert first_divergence(toy_pair, prompt, ar, runner_up, ulps=1e9).within_rounding
    for bad, message in [((ar, ar.token_ids[:-1]), "same max_new_tokens"), ((ar, "text"), "list of token ids"),
                         ((ar, [1.5]), "list of token ids")]:
        with pytest.raises(ValueError, match=message):
            first_divergence(toy_pair, prompt, *bad)
    with pytest.raises(ValueError, match="prompt"):
        first_divergence(toy_pair, " ", ar, ar)
    with pytest.raises(ValueError, match="ulps"):
        first_divergence(toy_pair, prompt, ar, ar, ulps=-1)


@pytest.fixture(scope="module")
def twin_pairs(toy_paths):
    """The toy pair with every odd token's output row a near copy of the even token's before it,
    so AR's best two logits often tie in half precision, loaded with the target in each dtype."""
    pairs = {}
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        pair = load_pair(*toy_paths, dtype=dtype)
        with torch.no_grad():
            w = pair.target.lm_head.weight
            even = w[0::2].float()[: w[1::2].shape[0]]
            # a relative change of about one bf16 unit: the twins' logits differ by about the rounding
            noise = torch.randn(even.shape, generator=torch.Generator().manual_seed(0))
            w[1::2] = (even * (1 + 2.0**-8 * noise)).to(w.dtype)
        pairs[dtype] = pair
    yield pairs
    for pair in pairs.values():
        pair.close()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_half_precision_parts_from_ar_only_at_ties(twin_pairs, dtype):
    pair = twin_pairs[dtype]
    assert pair.target.dtype == dtype and pair.target_device.type == "cpu"
    half = dtype != torch.float32
    # the fp32 control only needs sps: it shows the twins alone make no divergence
    methods = [("sps", {"budget": 4})] + ([("duo", {"budget": 8, "max_sequences": 4})] if half else [])
    seen = []
    for i in range(10 if half else 6):
        prompt = f"def step{i}(self, batch):"
        ar = generate(pair, prompt, max_new_tokens=24)
        for method, options in methods:
            got = generate(pair, prompt, method=method, max_new_tokens=24, **options)
            d = assert_matches_ar(pair, prompt, ar, got, (dtype, method, prompt))
            if d is not None:
                seen.append((method, d.position, d.top_two_logits, d.gap, d.resolution))
        if len(seen) >= 2:  # enough evidence that ties are met and explained
            break
    print(f"{dtype}: {len(seen)} divergences (method, position, AR top two, gap, resolution): {seen}")
    if half:  # the twins make ties common: the rule must actually be exercised
        assert seen, "no divergence met: the tie rule went untested"
