"""Tiny Llama pairs with fixed random weights, built in seconds.

Used by the tests (and to prove notebooks are not tied to the default pair). The draft is the
target plus noise, shrunk or not, so the two agree often enough for speculative decoding to do
something visible even though nothing was trained.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

import duolab

SPECIALS = ["<s>", "</s>", "<pad>"]


def _corpus() -> list[str]:
    # the project's own source (duolab, then this recipe): always present, a mix of prose and code
    folders = (Path(duolab.__file__).resolve().parent, Path(__file__).resolve().parent)
    return [p.read_text() for d in folders for p in sorted(d.glob("*.py"))]


def build_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def build_letter_tokenizer(n_letters: int) -> PreTrainedTokenizerFast:
    """A tokenizer with one token per letter a, b, c, ... (plus the specials): a vocabulary small
    enough that the exact distribution over several new tokens has only a few hundred prefixes."""
    if isinstance(n_letters, bool) or not isinstance(n_letters, int) or not 2 <= n_letters <= 26:
        raise ValueError(f"n_letters must be an integer in [2, 26], got {n_letters!r}")
    vocab = {t: i for i, t in enumerate(SPECIALS + [chr(ord("a") + i) for i in range(n_letters)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def build_toy_pair(
    out_dir: str | Path,
    *,
    vocab_size: int = 512,
    letters: int = 0,
    target_layers: int = 2,
    target_hidden: int = 64,
    draft_layers: int = 1,
    draft_hidden: int = 64,
    context: int = 512,
    noise: float = 0.25,
    head_scale: float = 40.0,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write target/ and draft/ model folders (safetensors + tokenizer) under out_dir.
    letters > 0: a letter tokenizer (see build_letter_tokenizer) instead of a BPE of vocab_size."""
    out = Path(out_dir)
    tokenizer = build_letter_tokenizer(letters) if letters else build_tokenizer(vocab_size)
    torch.manual_seed(seed)

    def config(layers: int, hidden: int) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2,
            num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
            max_position_embeddings=context, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        )

    target = LlamaForCausalLM(config(target_layers, target_hidden))
    draft = LlamaForCausalLM(config(draft_layers, draft_hidden))
    with torch.no_grad():
        # scale up the output heads so distributions are peaked (like trained models), and give
        # the draft a noisy copy of the target's vocabulary geometry so the two often agree
        target.lm_head.weight.mul_(head_scale)
        for layer in target.model.layers[draft_layers:]:  # deeper layers only nudge the result
            layer.self_attn.o_proj.weight.mul_(0.1)
            layer.mlp.down_proj.weight.mul_(0.1)
        if draft_hidden == target_hidden:
            # the draft = the target's first layers + a noisy head: a crude "distilled" draft
            target_params = dict(target.named_parameters())
            for name, param in draft.named_parameters():
                param.copy_(target_params[name])
            draft.lm_head.weight.add_(noise * draft.lm_head.weight.std() * torch.randn_like(draft.lm_head.weight))
        else:
            draft.lm_head.weight.mul_(head_scale)
        for model in (target, draft):  # random models would stop at once; make EOS rare (logit 0)
            model.lm_head.weight[tokenizer.eos_token_id] = 0.0
    paths = []
    for name, model in (("target", target), ("draft", draft)):
        path = out / name
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(path, safe_serialization=True)
        tokenizer.save_pretrained(path)
        paths.append(path)
    return paths[0], paths[1]
