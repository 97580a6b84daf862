"""duolab.gguf_convert on a GGUF written here the way llama.cpp's convert_hf_to_gguf.py writes a
Llama (its metadata keys and tensor names, q/k rows permuted, no output.weight for a tied head, the
byte-level BPE vocabulary and merges as metadata), so the whole path is checked with no download."""

from __future__ import annotations

import hashlib
import json
import re

import gguf
import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

import duolab
from duolab.gguf_convert import convert_gguf
from duolab.paths import REPO_DIR

TOKENIZER = REPO_DIR / "data" / "models" / "tokenizer"  # a real 4096-token byte-level BPE
TEMPLATE = "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
TEXT = "def convert(path):\n    return path.read_text()  # héllo, wörld"
LAYER = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
         "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
         "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # peaked logits (no near-ties for greedy), and EOS never wins (logit 0)
        model.model.embed_tokens.weight.mul_(20.0)[1] = 0.0
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):  # norms of 1 would hide a swapped norm tensor
                p.uniform_(0.5, 1.5)
            if name.endswith(("q_proj.weight", "k_proj.weight")):  # sharp attention: a q/k or rope
                p.mul_(8.0)  # mistake then moves the logits a lot, not by 1e-2
    return model


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's LlamaModel.permute (rotary halves -> interleaved pairs); transformers undoes it
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model: LlamaForCausalLM, path, ftype: str) -> None:
    c = model.config
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(c.rope_parameters["rope_theta"])
    w.add_rope_dimension_count(c.head_dim)
    w.add_vocab_size(c.vocab_size)
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if ftype == "F32" else gguf.LlamaFileType.MOSTLY_F16)
    # the vocabulary as llama.cpp's get_vocab_base writes a byte-level BPE, then its SpecialVocab
    # (merges, bos/eos/unk/pad ids, add_bos_token from the post-processor) and a chat template
    tok = json.loads((TOKENIZER / "tokenizer.json").read_text())
    vocab, specials = tok["model"]["vocab"], {t["id"] for t in tok["added_tokens"]}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(sorted(vocab, key=vocab.get))
    w.add_token_types([gguf.TokenType.CONTROL if i in specials else gguf.TokenType.NORMAL for i in range(len(vocab))])
    special = gguf.SpecialVocab(TOKENIZER, load_merges=True)
    special.chat_template = TEMPLATE
    special.add_to_gguf(w, quiet=True)
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied: llama.cpp writes no output.weight, and that is how the loader knows
        a = t.numpy()
        if m := re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.weight", name):
            gname = f"blk.{m[1]}.{LAYER[m[2]]}.weight"
            if m[2] in ("self_attn.q_proj", "self_attn.k_proj"):
                a = permute(a, c.num_attention_heads if "q_proj" in m[2] else c.num_key_value_heads)
        else:
            gname = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}[name]
        # llama.cpp keeps 1-D tensors (the norms) in F32 in an F16 file
        w.add_tensor(gname, a.astype(np.float16 if ftype == "F16" and a.ndim > 1 else np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("ftype", ["F32", "F16"])
def test_convert_gguf_matches_the_model_written(tmp_path, ftype):
    model = tiny_llama()
    path = tmp_path / f"tiny-{ftype}.gguf"
    write_gguf(model, path, ftype)
    if ftype == "F16":  # the reference is the model as the file holds it: matrices rounded to fp16
        with torch.no_grad():
            for p in model.parameters():
                if p.ndim > 1:
                    p.copy_(p.half().float())
    out = convert_gguf(path, tmp_path / "out")

    tok, converted_tok = AutoTokenizer.from_pretrained(TOKENIZER), AutoTokenizer.from_pretrained(out)
    ids = tok.encode(TEXT)
    assert converted_tok.encode(TEXT) == ids and ids[0] == tok.bos_token_id
    assert converted_tok.decode(ids, skip_special_tokens=True) == TEXT
    assert converted_tok.chat_template == TEMPLATE
    source = json.loads((out / "source.json").read_text())
    assert source == {"gguf_file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                      "dtype": "float32"}

    converted = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert converted.config.tie_word_embeddings and converted.config.num_key_value_heads == 2
    x = torch.tensor([ids])
    with torch.no_grad():
        torch.testing.assert_close(converted(x).logits, model(x).logits, rtol=1e-5, atol=1e-5)

    # greedy by hand on the original model == duolab's greedy on the converted folder
    prompt, expected = "import torch\n", []
    ctx = tok.encode(prompt)
    with torch.no_grad():
        for _ in range(8):
            expected.append(int(model(torch.tensor([ctx + expected])).logits[0, -1].argmax()))
    pair = duolab.load_pair(out, out, target_device="cpu")
    assert duolab.generate(pair, prompt, method="ar", max_new_tokens=8).token_ids == expected


def test_convert_gguf_rejects_bad_input(tmp_path):
    not_gguf = tmp_path / "model.bin"
    not_gguf.write_bytes(b"GGUF")
    for bad in (not_gguf, tmp_path / "absent.gguf", tmp_path):
        with pytest.raises(ValueError, match=re.escape(f"gguf_path must be an existing .gguf file, got {str(bad)!r}")):
            convert_gguf(bad, tmp_path / "out")
    empty = tmp_path / "empty.gguf"
    empty.touch()
    with pytest.raises(ValueError, match=r"^dtype must be float32, float16 or bfloat16, got torch\.int8$"):
        convert_gguf(empty, tmp_path / "out", dtype=torch.int8)
    assert not (tmp_path / "out").exists()  # checked before anything is written
