"""Load a (target, draft) pair: the shipped default pair, or any Hugging Face causal LM ids/paths.

Offline and safe by default: local files only, safetensors only, never remote code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
from transformers.utils import logging as hf_logging

from duolab.paths import default_sources
from duolab.runners.fast_llama import FastLlama
from duolab.runners.kvcache import CachedModel
from duolab.runtime import CpuLayout, default_layout, target_placement

# How a model's KV-cached forward is run: "fast" is duolab.runners.fast_llama (Llama on the CPU, ~4x
# less per-token overhead at draft sizes), "transformers" the model's own forward with a
# DynamicCache, "auto" fast where the config and device allow it.
RUNNERS = ("auto", "fast", "transformers")


@dataclass(eq=False)
class Pair:
    """A target model, a draft model that shares its vocabulary, and their tokenizer. Compared and
    hashed by identity: layers that keep something per pair (the draft worker, measurements) key it
    by the pair itself."""

    target: torch.nn.Module
    draft: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    target_device: torch.device
    draft_device: torch.device
    target_source: str
    draft_source: str
    # cores/threads of each side (see duolab.runtime); set by load_pair
    layout: CpuLayout | None = None
    # which runner every method uses for each model ("fast" or "transformers"); see RUNNERS
    draft_runner: str = "transformers"
    target_runner: str = "transformers"
    # each role's KV-cached runner, made on first use (see `runner`)
    runners: dict[str, FastLlama | CachedModel] = field(default_factory=dict, repr=False)
    # what `close` calls, each with this pair: set by the layers that start things for it
    # (duolab.methods.worker stops the draft worker it holds)
    closers: list[Callable[[Pair], None]] = field(default_factory=list, repr=False)

    @property
    def context_length(self) -> int:
        """Longest sequence (prompt + new tokens) both models can attend over."""
        return min(context_of(self.target.config), context_of(self.draft.config))

    @property
    def eos_token_id(self) -> int | None:
        return self.tokenizer.eos_token_id

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def chat_prompt(self, user: str) -> str:
        """`user`'s message as a chat model expects it: its chat template, ready for the answer."""
        if not self.has_chat_template:
            raise ValueError(f"the tokenizer of {self.target_source} has no chat template; pass the prompt as text")
        return self.tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                                  add_generation_prompt=True)

    def as_prompt(self, text: str) -> str:
        """A task's prompt as this pair is asked it: in its chat template when it has one."""
        return self.chat_prompt(text) if self.has_chat_template else text

    def runner(self, role: str):
        """The KV-cached forward of the 'target' or the 'draft', emptied for a new sequence.

        Made and warmed once per pair and reused, so every method that runs a model runs it the
        same way (sps, duo's worker, the profiler and the widgets draft with one runner), and no
        timed call pays for building it (methods make theirs in `prepare`, before the clock)."""
        if role not in ("target", "draft"):
            raise ValueError(f"role must be 'target' or 'draft', got {role!r}")
        runner = self.runners.get(role)
        if runner is None:
            model, device = (self.target, self.target_device) if role == "target" else (self.draft, self.draft_device)
            kind = self.target_runner if role == "target" else self.draft_runner
            runner = FastLlama(model) if kind == "fast" else CachedModel(model, device)
            with target_placement(self.layout):  # warmed where decoders run it
                warm_up(runner, self.context_length)
            self.runners[role] = runner
        runner.reset()
        return runner

    def close(self) -> None:
        """Stop what was started for this pair: the draft worker it holds (see
        duolab.methods.worker.draft_worker). The pair stays usable; what it needs starts again on use."""
        for close in self.closers:
            close(self)

    def __repr__(self) -> str:
        def size(m):
            return f"{sum(p.numel() for p in m.parameters()) / 1e6:.2f}M params"
        return (f"Pair(target={self.target_source} [{size(self.target)}, {self.target_device}, "
                f"{self.target_runner} runner], draft={self.draft_source} [{size(self.draft)}, "
                f"{self.draft_device}, {self.draft_runner} runner], "
                f"vocab={len(self.tokenizer)}, context={self.context_length})")

    def __enter__(self) -> "Pair":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def warm_up(runner, context: int) -> None:
    """Pay a runner's first-use costs now (the process's first torch ops, kernel choice, the memory
    a prefill needs): a prompt-sized prefill (128 tokens: a shorter one left a 96-token prompt's
    first prefill ~1.2-2.5x slower), a 1-token step, then an empty cache."""
    runner.forward([0] * min(128, context - 1))
    runner.forward([0])
    runner.reset()


def context_of(config) -> int:
    return int(getattr(config, "max_position_embeddings", None) or 2048)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None -> cuda when available, else cpu. A device this machine does not have is a ValueError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}: {e}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if dev.type == "mps" and torch.backends.mps.is_available():
        return dev
    raise ValueError(f"device {device!r} is not available on this machine")


def _looks_like_path(source: str) -> bool:
    # "name" or "org/name" may be a hub id; anything else is meant as a local path
    return source.startswith((".", "/", "~")) or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", source)


def _causal_lm_config(source: str, role: str, local_files_only: bool):
    """The model's config, after checking that it exists and is a causal LM (no weights read)."""
    if _looks_like_path(source) and not Path(source).expanduser().exists():
        raise ValueError(f"{role} model path does not exist: {source}")
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local_files_only, trust_remote_code=False)
    except (OSError, ValueError) as e:
        where = "locally (loading is offline; pass local_files_only=False to allow the hub)" if local_files_only else ""
        raise ValueError(f"{role} model {source!r} could not be found {where}: {e}") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(
            f"{role} model {source!r} is not a causal language model (model_type={config.model_type!r})"
        )
    return config


def _load_weights(source: str, device: torch.device, dtype, local_files_only: bool):
    hf_logging.disable_progress_bar()  # a bar per load drowns notebook output
    if dtype is None:
        dtype = torch.float32 if device.type == "cpu" else torch.float16
    model = AutoModelForCausalLM.from_pretrained(
        source,
        local_files_only=local_files_only,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=dtype,
    )
    return model.to(device).eval()


def load_pair(
    target: str | os.PathLike | None = None,
    draft: str | os.PathLike | None = None,
    *,
    target_device: str | torch.device | None = None,
    draft_device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    local_files_only: bool = True,
    draft_runner: str = "auto",
    target_runner: str = "transformers",
) -> Pair:
    """Load a target and a draft model that share a tokenizer.

    With no arguments: the default pair shipped in data/models (or the paths in the environment
    variables DUOLAB_TARGET / DUOLAB_DRAFT, which is how notebooks run on another pair).
    target_device None means cuda when available, else cpu. The draft lives on the CPU.
    draft_runner / target_runner choose how each model's forward runs (see RUNNERS): every
    method that runs the draft model drafts with the pair's one draft runner; "auto" is the fast
    runner when the config and device support it.
    Everything is checked (paths, model types, vocabularies, devices) before weights are read.
    """
    target, draft = default_sources(target, draft)
    t_dev = resolve_device(target_device)
    d_dev = resolve_device(draft_device)
    t_cfg = _causal_lm_config(target, "target", local_files_only)
    d_cfg = _causal_lm_config(draft, "draft", local_files_only)
    if t_cfg.vocab_size != d_cfg.vocab_size:
        raise ValueError(
            "draft and target have different vocabularies: "
            f"target vocab_size={t_cfg.vocab_size}, draft vocab_size={d_cfg.vocab_size}"
        )
    d_runner = resolve_runner(draft_runner, d_cfg, d_dev, "draft")
    t_runner = resolve_runner(target_runner, t_cfg, t_dev, "target", dtype)
    tokenizer = AutoTokenizer.from_pretrained(target, local_files_only=local_files_only, trust_remote_code=False)
    _check_same_tokenizer(target, draft, tokenizer, local_files_only)
    target_model = _load_weights(target, t_dev, dtype, local_files_only)
    draft_model = _load_weights(draft, d_dev, torch.float32 if d_dev.type == "cpu" else dtype, local_files_only)
    return Pair(target_model, draft_model, tokenizer, t_dev, d_dev, target, draft, default_layout(t_dev),
                draft_runner=d_runner, target_runner=t_runner)


def resolve_runner(choice: str, config, device: torch.device, role: str, dtype=None) -> str:
    """'auto' | 'fast' | 'transformers' -> the runner used ('fast' or 'transformers')."""
    if choice not in RUNNERS:
        raise ValueError(f"{role}_runner must be one of {RUNNERS}, got {choice!r}")
    # FastLlama computes in float32 on the CPU: a half-precision model keeps its own forward
    fast_ok = device.type == "cpu" and dtype in (None, torch.float32) and FastLlama.supports(config)
    if choice == "fast" and not fast_ok:
        raise ValueError(f"{role}_runner='fast' needs a plain Llama-architecture model in float32 on the CPU "
                         f"(model_type={getattr(config, 'model_type', None)!r}, device={device}, "
                         f"dtype={dtype}); use 'transformers' or 'auto'")
    return "fast" if choice == "fast" or (choice == "auto" and fast_ok) else "transformers"


def _check_same_tokenizer(target, draft, tokenizer, local_files_only) -> None:
    try:
        draft_tok = AutoTokenizer.from_pretrained(draft, local_files_only=local_files_only, trust_remote_code=False)
    except (OSError, ValueError, TypeError):
        return  # a draft folder without tokenizer files uses the target's
    if draft_tok.get_vocab() != tokenizer.get_vocab():
        raise ValueError(f"draft and target have different vocabularies: tokenizers of {target!r} and {draft!r} differ")
