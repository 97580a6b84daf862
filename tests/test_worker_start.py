"""The draft worker's quick start: it imports neither transformers nor the rest of duolab, and
the fast runner it builds straight from the draft's files gives, bit for bit, the logits of
FastLlama(the model transformers loads from them)."""

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from duolab.methods import worker_process
from duolab.methods.worker import _WORKER_PRELUDE
from duolab.models import warm_up
from duolab.paths import DEFAULT_DRAFT, REAL_DRAFT
from duolab.runners.fast_llama import FastLlama

SMALL = dict(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, max_position_embeddings=64, initializer_range=0.1, eos_token_id=7)
VARIANTS = {"mha": dict(num_key_value_heads=4),
            "gqa": dict(num_key_value_heads=2, head_dim=32, rope_theta=500.0),
            "tied": dict(num_key_value_heads=4, tie_word_embeddings=True, rms_norm_eps=1e-5)}


def ids(n: int, vocab: int, seed: int = 1) -> list[int]:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def run(runner, vocab: int) -> torch.Tensor:
    """Logits of a prefill, single steps and a chunk, then of a two-branch tree step."""
    tokens = ids(40, vocab)
    out = [runner.forward(tokens[:24])] + [runner.forward([t]) for t in tokens[24:32]] + [runner.forward(tokens[32:])]
    end = runner.length + 2
    visible = torch.ones(2, end, dtype=torch.bool)
    visible[0, -1] = visible[1, -2] = False
    out.append(runner.forward_tree(ids(2, vocab, seed=2), [40, 40], visible))
    return torch.cat(out)


def assert_same_runner(fast, reference, vocab: int):
    got, want = run(fast, vocab), run(reference, vocab)
    assert got.dtype == want.dtype == torch.float32 and torch.equal(got, want)


def save(model, folder, dtype=torch.float32):
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    return folder


def small_model(variant: str) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**SMALL, **VARIANTS[variant])).eval()


def hf_fast(folder) -> tuple[FastLlama, object]:
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return FastLlama(model), model.config


@pytest.mark.parametrize("variant", VARIANTS)
def test_from_weights_equals_the_model_runner(variant):
    model = small_model(variant)
    state = dict(model.state_dict())
    if model.config.tie_word_embeddings:
        del state["lm_head.weight"]  # as a checkpoint of tied weights holds it
    assert_same_runner(FastLlama.from_weights(model.config, state), FastLlama(model), SMALL["vocab_size"])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_worker_reads_a_draft_as_transformers_loads_it(tmp_path, variant, dtype):
    folder = save(small_model(variant), tmp_path / "draft", dtype)
    assert worker_process._read_llama(str(folder)) is not None  # the quick path, not transformers
    runner, eos = worker_process._load_runner(str(folder), "fast")
    reference, config = hf_fast(folder)
    assert eos == config.eos_token_id == 7 and runner.max_len == reference.max_len
    assert_same_runner(runner, reference, SMALL["vocab_size"])


@pytest.mark.parametrize("draft", [DEFAULT_DRAFT, REAL_DRAFT], ids=["shipped", "real_pair"])
def test_worker_reads_the_drafts_as_transformers_loads_them(draft):
    if not (draft / "model.safetensors").exists():
        pytest.skip(f"{draft} not built")
    assert worker_process._read_llama(str(draft)) is not None
    runner, eos = worker_process._load_runner(str(draft), "fast")
    reference, config = hf_fast(draft)
    assert eos == config.eos_token_id
    assert_same_runner(runner, reference, config.vocab_size)


def test_a_draft_it_cannot_read_exactly_loads_through_transformers(tmp_path):
    folder = save(small_model("mha"), tmp_path / "draft")
    config = json.loads((folder / "config.json").read_text())
    del config["rms_norm_eps"]  # transformers would fill in its own default
    (folder / "config.json").write_text(json.dumps(config))
    assert worker_process._read_llama(str(folder)) is None
    runner, _ = worker_process._load_runner(str(folder), "fast")
    assert_same_runner(runner, hf_fast(folder)[0], SMALL["vocab_size"])
    # a checkpoint holding a tensor the Llama does not use; one split in shards (no model.safetensors)
    extra = save(small_model("mha"), tmp_path / "extra")
    tensors = load_file(extra / "model.safetensors")
    save_file({**tensors, "model.rotary_emb.inv_freq": torch.ones(8)}, extra / "model.safetensors",
              metadata={"format": "pt"})
    sharded = save(small_model("mha"), tmp_path / "sharded")
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00001.safetensors")
    for folder in (extra, sharded):
        assert worker_process._read_llama(str(folder)) is None, folder


def test_the_workers_warm_up_is_the_pairs():
    class Recorder:
        def __init__(self):
            self.calls = []

        def forward(self, tokens):
            self.calls.append(("forward", list(tokens)))

        def reset(self):
            self.calls.append(("reset",))

    for context in (2, 64, 2048):
        mine, theirs = Recorder(), Recorder()
        worker_process._warm_up(mine, context)
        warm_up(theirs, context)
        assert mine.calls == theirs.calls


def test_the_worker_imports_neither_transformers_nor_the_rest_of_duolab():
    program = _WORKER_PRELUDE + (
        "import duolab.methods.worker_process as wp\n"
        f"runner, eos = wp._load_runner({str(DEFAULT_DRAFT)!r}, 'fast')\n"
        "import json; print(json.dumps(sorted(m for m in sys.modules\n"
        "                                     if m.split('.')[0] in ('transformers', 'pandas', 'duolab'))))\n")
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in loaded if not m.startswith("duolab")], loaded
    assert set(loaded) <= {"duolab", "duolab.arguments", "duolab.methods", "duolab.methods.drafting",
                           "duolab.methods.worker", "duolab.methods.worker_process", "duolab.runners",
                           "duolab.runners.fast_llama", "duolab.runtime", "duolab.sampling"}, loaded
