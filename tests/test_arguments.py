"""Bad input is a ValueError that names the problem, raised before any model work."""

import pytest
import torch

from duolab import generate, load_pair
from duolab.models import resolve_device


@pytest.fixture
def no_model_work(toy_pair, monkeypatch):
    """Fail loudly if a bad call reaches the models."""

    def boom(*a, **k):
        raise AssertionError("model work started before the arguments were checked")

    monkeypatch.setattr(toy_pair.target, "forward", boom)
    monkeypatch.setattr(toy_pair.draft, "forward", boom)
    return toy_pair


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt": ""}, "prompt is empty"),
        ({"prompt": "   \n"}, "prompt is empty"),
        ({"prompt": None}, "prompt must be a string, got NoneType"),
        ({"prompt": [1, 2, 3]}, "prompt must be a string, got list"),
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1, got 0"),
        ({"max_new_tokens": 2.5}, "max_new_tokens must be an integer >= 1, got 2.5"),
        ({"temperature": -0.1}, "temperature must be a number >= 0, got -0.1"),
        ({"top_k": -1}, "top_k must be an integer >= 0"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\], got 1.5"),
        ({"method": "beam"}, "unknown method 'beam'; choose one of"),
        ({"method": "ar", "budget": 4}, r"unknown option\(s\) \['budget'\] for method 'ar'"),
        ({"method": "sps", "budget": 0}, "budget must be an integer >= 1"),
        ({"method": "sps", "budget": 2.5}, "budget must be an integer >= 1"),
        ({"method": "pld", "budget": -3}, "budget must be an integer >= 1"),
        ({"method": "hf", "budget": "4"}, "budget must be an integer >= 1"),
        ({"method": "duo", "budget": 0}, "budget must be an integer >= 1"),
        ({"method": "duo", "max_sequences": 0}, "max_sequences must be an integer >= 1"),
        ({"method": "duo", "catch_up": -1}, "catch_up must be 'auto' or an integer >= 0"),
        ({"method": "duo", "catch_up": "sometimes"}, "catch_up must be 'auto' or an integer >= 0"),
        ({"method": "duo", "outcomes": 1}, "outcomes must be True or False"),
        ({"method": "duo", "min_draft_prob": 0.5}, r"unknown option\(s\) \['min_draft_prob'\] for method 'duo'"),
        ({"method": "duo", "worker_timeout_s": 0}, "worker_timeout_s must be a number > 0"),
        ({"seed": 1.5}, "seed must be an integer or None"),
    ],
)
def test_bad_generate_arguments(no_model_work, kwargs, message):
    call = {"prompt": "hello", **kwargs}
    prompt = call.pop("prompt")
    with pytest.raises(ValueError, match=message):
        generate(no_model_work, prompt, **call)


def test_prompt_longer_than_context(no_model_work):
    long_prompt = "def f(x): return x\n" * 400
    with pytest.raises(ValueError, match=r"prompt is \d+ tokens, longer than the model's context of 512"):
        generate(no_model_work, long_prompt)


def test_missing_model_path(tmp_path):
    with pytest.raises(ValueError, match="target model path does not exist"):
        load_pair(tmp_path / "nope", tmp_path / "nope2")


def test_not_a_causal_lm(tmp_path, toy_paths):
    from transformers import ViTConfig

    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"draft model .* is not a causal language model \(model_type='vit'\)"):
        load_pair(toy_paths[0], tmp_path)


def test_different_vocabularies(tmp_path, toy_paths):
    from recipe.toy import build_toy_pair

    _, other_draft = build_toy_pair(tmp_path, vocab_size=400)
    with pytest.raises(ValueError, match="draft and target have different vocabularies"):
        load_pair(toy_paths[0], other_draft)


@pytest.mark.parametrize("device", ["bogus", "cuda:99", "tpu"])
def test_device_that_does_not_exist(device, toy_paths):
    with pytest.raises(ValueError, match="device"):
        load_pair(*toy_paths, target_device=device)


def test_cuda_without_gpu_is_a_clear_error(toy_paths):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_pair(*toy_paths, target_device="cuda")


def test_default_device_is_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
