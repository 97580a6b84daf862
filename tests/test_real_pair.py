"""The real pair (SmolLM2-135M-Instruct and its distilled draft, `make real-pair`): every method's
greedy output equals AR's and transformers' own `generate`, in fp32, 5 prompts per task in the
chat template. Skipped, with one line saying how to build it, when the pair is not built."""

import pytest
import torch

from duolab import generate, load_pair
from duolab.paths import REAL_DRAFT, REAL_TARGET, real_pair_built
from duolab.prompts import TASKS, load_prompts

if not real_pair_built():
    pytest.skip(f"real pair not built ({REAL_TARGET} missing): run `make real-pair`", allow_module_level=True)

NEW_TOKENS = 32
METHODS = [("sps", {"budget": 4}), ("pld", {}), ("hf", {"budget": 4}), ("duo", {}),
           ("sps", {"budget": 4, "retrieval": 8}), ("duo", {"retrieval": 8}),
           ("sps", {"budget": 4, "retrieval": "auto"}), ("duo", {"retrieval": "auto"})]


@pytest.fixture(scope="module")
def real_pair():
    pair = load_pair(REAL_TARGET, REAL_DRAFT, target_device="cpu", dtype=torch.float32)
    yield pair
    pair.close()


def test_the_draft_fits_its_budget_and_shares_the_tokenizer(real_pair):
    size = sum(f.stat().st_size for f in REAL_DRAFT.iterdir() if f.name.endswith(".safetensors"))
    assert size <= 30e6
    assert real_pair.has_chat_template and real_pair.draft.config.vocab_size == len(real_pair.tokenizer)
    draft_params = sum(p.numel() for p in real_pair.draft.parameters())
    assert draft_params < sum(p.numel() for p in real_pair.target.parameters()) / 5


@pytest.mark.parametrize("task", TASKS)
def test_greedy_identity_with_ar_and_transformers(real_pair, task):
    tok = real_pair.tokenizer
    for prompt in load_prompts(task, 5):
        text = real_pair.as_prompt(prompt)
        ids = torch.tensor([tok.encode(text)])
        with torch.inference_mode():
            hf = real_pair.target.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                                           do_sample=False, pad_token_id=tok.pad_token_id)[0, ids.shape[1]:].tolist()
        ar = generate(real_pair, text, max_new_tokens=NEW_TOKENS).token_ids
        assert ar == hf[:len(ar)] and (len(ar) == NEW_TOKENS or ar[-1] == real_pair.eos_token_id), task
        for method, options in METHODS:
            got = generate(real_pair, text, method=method, max_new_tokens=NEW_TOKENS, **options).token_ids
            assert got == ar, f"{method} {options} on {task}: {tok.decode(got)!r} != {tok.decode(ar)!r}"
