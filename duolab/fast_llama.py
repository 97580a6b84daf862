"""A fast batch-1 CPU forward for Llama-architecture draft models, with its own KV cache.

The draft worker runs a model of a few million parameters on one CPU thread, one token at a
time. At that size a decode step is almost all per-op overhead (Python, nn.Module calls, cache
objects, mask building), not arithmetic, so this file re-implements the Llama forward with as
few torch ops as it can: fused weights, a preallocated KV cache, precomputed rotary tables and
no masks for single-token steps. It reproduces `transformers`' LlamaForCausalLM logits to
about 1e-6 in float32, for the configs `FastLlama.supports` accepts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _rope_parameters(config) -> dict:
    # transformers 5 keeps rope settings in `rope_parameters` (with `rope_scaling` as an alias);
    # older configs have a `rope_theta` attribute and `rope_scaling` None for plain RoPE
    rp = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    return dict(rp)


class FastLlama:
    """Hand-written Llama forward with a KV cache; interface matches `duolab.kvcache.CachedModel`.

    `length` is the number of cached tokens; `forward(ids)` appends `ids` at positions
    [length, length + len(ids)) and returns their logits.
    """

    @staticmethod
    def supports(config) -> bool:
        """True only for configs this forward reproduces exactly (else use transformers)."""
        if getattr(config, "model_type", None) != "llama" or getattr(config, "hidden_act", None) != "silu":
            return False
        if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
            return False
        if getattr(config, "sliding_window", None) is not None:
            return False
        if (getattr(config, "pretraining_tp", 1) or 1) != 1:
            return False  # transformers 4 split the matmuls under pretraining_tp > 1
        rp = _rope_parameters(config)
        if any(isinstance(v, dict) for v in rp.values()):
            return False  # per-layer-type rope settings
        if rp.get("rope_type", rp.get("type", "default")) != "default":
            return False  # linear / dynamic / yarn / llama3 scaling change the frequencies
        return (rp.get("partial_rotary_factor", 1.0) or 1.0) == 1.0

    def __init__(self, model, max_len: int | None = None):
        cfg = model.config
        if not self.supports(cfg):
            raise ValueError("FastLlama does not support this config; use transformers instead")
        self.n_head = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads or self.n_head
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_head
        self.hidden = cfg.hidden_size
        self.vocab = cfg.vocab_size
        self.eps = float(cfg.rms_norm_eps)
        self.max_len = int(max_len or cfg.max_position_embeddings)
        self.length = 0

        def w(t):  # private fp32 copy: the caller may keep training or casting its model
            return t.detach().to("cpu", torch.float32).clone().contiguous()

        hd, scale = self.head_dim, self.head_dim**-0.5
        base = model.model
        self.embed = w(base.embed_tokens.weight)
        self.layers = []
        for layer in base.layers:
            at, mlp = layer.self_attn, layer.mlp
            # the attention scale is folded into W_q (RoPE is linear, so scaling q before it is
            # the same as scaling the scores after); q, k, v then come out of one matmul
            wqkv = torch.cat([w(at.q_proj.weight) * scale, w(at.k_proj.weight), w(at.v_proj.weight)])
            wgu = torch.cat([w(mlp.gate_proj.weight), w(mlp.up_proj.weight)])
            # o_proj and down_proj are used as addmm(x, y, W.t()): the residual add comes free
            self.layers.append((
                w(layer.input_layernorm.weight), wqkv, w(at.o_proj.weight).t(),
                w(layer.post_attention_layernorm.weight), wgu, w(mlp.down_proj.weight).t(),
            ))
        self.norm = w(base.norm.weight)
        head = model.lm_head.weight
        self.lm_head = self.embed if head is base.embed_tokens.weight else w(head)
        self.q_dim, self.kv_dim = self.n_head * hd, self.n_kv * hd
        self.inter = self.layers[0][4].shape[0] // 2 if self.layers else 0

        # RoPE as transformers computes it (fp32 positions times fp32 inverse frequencies), for
        # every position once; rotate_half's minus sign is folded into the sin table
        theta = float(_rope_parameters(cfg).get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))
        inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        freqs = torch.arange(self.max_len, dtype=torch.int64).float()[:, None] * inv_freq
        self.cos = torch.cat([freqs.cos(), freqs.cos()], -1)  # (max_len, hd)
        self.sin = torch.cat([-freqs.sin(), freqs.sin()], -1)

        # K/V for every layer and position, written in place: (layers, kv_heads, max_len, hd)
        shape = (len(self.layers), self.n_kv, self.max_len, hd)
        self.k_cache = torch.zeros(shape)
        self.v_cache = torch.zeros(shape)

    def reset(self) -> None:
        self.length = 0  # stale cache entries are never read past `length`

    def rollback(self, length: int) -> None:
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot roll back to {length} tokens, cache holds {self.length}")
        self.length = length

    @torch.inference_mode()
    def snapshot(self, start: int):
        if not 0 <= start <= self.length:
            raise ValueError(f"snapshot start {start} outside the cache (length {self.length})")
        return (self.k_cache[:, :, start:self.length].clone(),
                self.v_cache[:, :, start:self.length].clone())

    @torch.inference_mode()
    def restore(self, start: int, snap) -> None:
        k, v = snap
        n = k.shape[2]
        if not 0 <= start <= self.length or start + n > self.max_len:
            raise ValueError(f"cannot restore {n} tokens at {start} (length {self.length})")
        self.k_cache[:, :, start:start + n] = k
        self.v_cache[:, :, start:start + n] = v
        self.length = start + n

    @torch.inference_mode()
    def forward(self, ids: list[int]) -> torch.Tensor:
        """Logits (len(ids), vocab) for `ids` appended to the cached prefix; caches their K/V."""
        T, pos = len(ids), self.length
        end = pos + T
        if end > self.max_len:
            raise ValueError(f"{end} tokens exceed max_len {self.max_len}")
        nh, nkv, hd, d, eps = self.n_head, self.n_kv, self.head_dim, self.hidden, self.eps
        g = nh // nkv  # query heads per kv head (grouped-query attention)
        qd, kvd, inter = self.q_dim, self.kv_dim, self.inter
        if T == 1:
            x = self.embed[ids[0]][None]  # int indexing: no index tensor to build
            mask = None  # one new token may attend to everything cached
        else:
            x = self.embed[torch.tensor(ids, dtype=torch.long)]
            # chunk token i (position pos + i) sees positions <= pos + i
            mask = torch.full((T, end), float("-inf")).triu_(pos + 1)
        cos, sin = self.cos[pos:end, None], self.sin[pos:end, None]  # (T, 1, hd) over heads
        half = hd // 2

        for i, (w_in, wqkv, wo_t, w_post, wgu, wd_t) in enumerate(self.layers):
            h = F.rms_norm(x, (d,), w_in, eps)
            qkv = F.linear(h, wqkv)
            # RoPE on q and k heads together: x*cos + rotate_half(x)*sin, rotate_half = swap halves
            qk = qkv[:, :qd + kvd].view(T, nh + nkv, hd)
            qk = torch.addcmul(qk * cos, qk.view(T, nh + nkv, 2, half).flip(2).view(T, nh + nkv, hd), sin)
            kc, vc = self.k_cache[i], self.v_cache[i]
            kc[:, pos:end] = qk[:, nh:].transpose(0, 1)
            vc[:, pos:end] = qkv[:, qd + kvd:].view(T, nkv, hd).transpose(0, 1)
            # each kv head serves g query heads: batch over kv heads, (g*T) query rows each
            if T == 1:
                q = qk[0, :nh].view(nkv, g, hd)
            else:
                q = qk[:, :nh].view(T, nkv, g, hd).permute(1, 2, 0, 3).reshape(nkv, g * T, hd)
            att = torch.bmm(q, kc[:, :end].transpose(1, 2))  # (nkv, g*T, end)
            if mask is not None:
                att = (att.view(nkv, g, T, end) + mask).view(nkv, g * T, end)
            y = torch.bmm(att.softmax(-1), vc[:, :end])  # (nkv, g*T, hd)
            if T > 1:
                y = y.view(nkv, g, T, hd).permute(2, 0, 1, 3)
            x = torch.addmm(x, y.reshape(T, qd), wo_t)

            h = F.rms_norm(x, (d,), w_post, eps)
            gu = F.linear(h, wgu)
            x = torch.addmm(x, F.silu(gu[:, :inter]) * gu[:, inter:], wd_t)

        self.length = end
        return F.linear(F.rms_norm(x, (d,), self.norm, eps), self.lm_head)
