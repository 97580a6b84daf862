"""FastLlama must give transformers' logits (float32, 1e-4) through prefill, decode, rollback and
branch snapshots, and must refuse the configs it cannot reproduce."""

import copy
import functools

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from duolab.paths import DEFAULT_DRAFT
from duolab.runners.fast_llama import FastLlama

torch.set_num_threads(1)

ATOL = 1e-4
SMALL = dict(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, max_position_embeddings=64, initializer_range=0.1)
VARIANTS = {
    "mha": dict(num_key_value_heads=4),
    # grouped-query attention, a head_dim that is not hidden/heads, a non-default rope theta
    "gqa": dict(num_key_value_heads=2, head_dim=32, rope_theta=500.0),
    "tied": dict(num_key_value_heads=4, tie_word_embeddings=True, rms_norm_eps=1e-5),
}


@functools.cache
def small_model(variant: str) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**SMALL, **VARIANTS[variant])).eval()


def hf_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0].float()


def tokens(n: int, vocab: int = 300, seed: int = 1) -> list[int]:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def assert_close(a, b, atol=ATOL):
    assert a.shape == b.shape and a.dtype == torch.float32
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_prefill_matches_hf(variant):
    model, ids = small_model(variant), tokens(40)
    fast = FastLlama(model)
    assert_close(fast.forward(ids), hf_logits(model, ids))
    assert fast.length == 40


@pytest.mark.parametrize("variant", VARIANTS)
def test_decode_and_chunks_match_hf(variant):
    model, ids = small_model(variant), tokens(40, seed=2)
    fast = FastLlama(model)
    # prefill, one token at a time, then a chunk on top of a cached prefix
    out = [fast.forward(ids[:8])]
    out += [fast.forward([t]) for t in ids[8:30]]
    out += [fast.forward(ids[30:])]
    assert_close(torch.cat(out), hf_logits(model, ids))
    assert fast.forward([]).shape == (0, 300) and fast.length == 40


def test_rollback_then_reforward_repeats_logits():
    fast, ids = FastLlama(small_model("gqa")), tokens(20, seed=3)
    fast.forward(ids[:10])
    first = fast.forward(ids[10:])
    fast.rollback(10)
    fast.forward(tokens(7, seed=4))  # another continuation overwrites the cache rows
    fast.rollback(10)
    assert_close(fast.forward(ids[10:]), first, atol=1e-6)
    fast.reset()
    assert fast.length == 0
    assert_close(fast.forward(ids[:10]), hf_logits(small_model("gqa"), ids[:10]))


@pytest.mark.parametrize("variant", ["mha", "gqa"])
def test_snapshot_restore_branch(variant):
    model = small_model(variant)
    fast = FastLlama(model)
    prefix, branch_a, branch_b, nxt = tokens(12, seed=5), tokens(4, seed=6), tokens(6, seed=7), 42
    fast.forward(prefix)
    for t in branch_a:  # drafted token by token, as the draft worker does
        fast.forward([t])
    snap = fast.snapshot(len(prefix))
    fast.rollback(len(prefix))
    for t in branch_b:
        fast.forward([t])
    fast.restore(len(prefix), snap)
    assert fast.length == len(prefix) + len(branch_a)
    got = fast.forward([nxt])[0]
    assert_close(got, hf_logits(model, prefix + branch_a + [nxt])[-1])
    straight = FastLlama(model)  # the same steps without the detour through branch B
    straight.forward(prefix)
    for t in branch_a:
        straight.forward([t])
    assert_close(got, straight.forward([nxt])[0], atol=1e-6)


def test_supports():
    assert FastLlama.supports(LlamaConfig(**SMALL))
    default_rope = {"rope_type": "default", "rope_theta": 1e4}
    assert FastLlama.supports(LlamaConfig(**SMALL, rope_parameters=default_rope))
    unsupported = [
        LlamaConfig(**SMALL, rope_scaling={"rope_type": "linear", "factor": 2.0}),
        LlamaConfig(**SMALL, rope_scaling={"type": "linear", "factor": 2.0}),
        LlamaConfig(**SMALL, attention_bias=True),
        LlamaConfig(**SMALL, mlp_bias=True),
        LlamaConfig(**SMALL, hidden_act="gelu"),
    ]
    for cfg in unsupported:
        assert not FastLlama.supports(cfg), cfg
    with pytest.raises(ValueError):
        FastLlama(LlamaForCausalLM(unsupported[2]))


def test_cache_bounds():
    fast = FastLlama(small_model("mha"), max_len=8)
    fast.forward(tokens(6))
    with pytest.raises(ValueError):
        fast.forward(tokens(3))
    assert fast.length == 6  # a refused forward leaves the cache as it was
    fast.forward([1, 2])
    with pytest.raises(ValueError):
        fast.forward([3])
    for bad in (-1, 9):
        with pytest.raises(ValueError):
            fast.rollback(bad)
    snap = fast.snapshot(4)
    fast.rollback(2)
    with pytest.raises(ValueError):  # restoring past the cached prefix would leave a gap
        fast.restore(3, snap)
    fast.restore(2, snap)
    assert fast.length == 6


def test_half_precision_model_keeps_fp32_weights():
    model16 = copy.deepcopy(small_model("tied")).half()
    fast = FastLlama(model16)
    assert fast.lm_head.dtype == fast.embed.dtype == torch.float32
    # the reference: the same fp16-rounded weights in a float32 model (not model16.float(),
    # whose rotary inv_freq buffer went through fp16 too)
    ref = copy.deepcopy(small_model("tied"))
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(p.half().float())
    ids = tokens(16, seed=8)
    assert_close(fast.forward(ids), hf_logits(ref, ids))


@pytest.mark.skipif(not DEFAULT_DRAFT.exists(), reason="default draft model not built")
def test_default_draft_matches_hf():
    model = AutoModelForCausalLM.from_pretrained(DEFAULT_DRAFT, dtype=torch.float32).eval()
    assert FastLlama.supports(model.config)
    ids = tokens(48, vocab=model.config.vocab_size, seed=9)
    fast = FastLlama(model)
    out = [fast.forward(ids[:32])] + [fast.forward([t]) for t in ids[32:]]
    assert_close(torch.cat(out), hf_logits(model, ids))


@pytest.mark.parametrize("variant", VARIANTS)
def test_branches_in_one_tree_forward_match_each_branch_alone(variant):
    """Three branches after a shared prefix, two steps each, drafted as two batched tree steps:
    every branch's logits equal transformers' on prefix + that branch alone."""
    model, prefix = small_model(variant), tokens(12, seed=3)
    branches = [[5, 6], [7, 8], [9, 10]]
    fast = FastLlama(model)
    fast.forward(prefix)
    base, B = len(prefix), len(branches)
    got = []
    for step in range(2):
        end = fast.length + B
        visible = torch.zeros(B, end, dtype=torch.bool)
        visible[:, :base] = True
        for b in range(B):  # its own earlier rows and itself: rows base + s*B + b for s <= step
            visible[b, [base + s * B + b for s in range(step + 1)]] = True
        got.append(fast.forward_tree([br[step] for br in branches], [base + step] * B, visible))
    for b, branch in enumerate(branches):
        want = hf_logits(model, prefix + branch)[base:]
        assert_close(torch.stack([got[0][b], got[1][b]]), want)
    with pytest.raises(ValueError, match="mask"):
        fast.forward_tree([1, 2], [base, base], torch.ones(2, 3, dtype=torch.bool))


def test_branch_steps_are_measured_with_the_fast_runner(toy_pair):
    from duolab.measure.profiling import measure_branch_steps

    steps = measure_branch_steps(toy_pair, [1, 2, 4], context=16, repeats=1)
    assert len(steps) == 3 and all(ms > 0 for ms in steps)
    assert toy_pair.runners["draft"].length == 16  # rolled back to the prefix after every step
