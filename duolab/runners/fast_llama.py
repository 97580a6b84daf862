"""A fast batch-1 CPU forward for Llama-architecture draft models, with its own KV cache.

The draft worker runs a model of a few million parameters on one CPU thread, one token at a
time. At that size a decode step is mostly per-op overhead (Python, nn.Module calls, cache
objects, masks), not arithmetic, so this file re-implements the Llama forward with as few
torch ops as it can: fused weights, a preallocated KV cache written with one copy per layer,
precomputed rotary tables and no mask for single-token steps. It reproduces transformers'
LlamaForCausalLM logits to ~1e-6 in float32 for the configs `FastLlama.supports` accepts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _rope_parameters(config) -> dict:
    # transformers 5 keeps RoPE settings in `rope_parameters` (`rope_scaling` is an alias);
    # transformers 4 configs have a `rope_theta` attribute and `rope_scaling` None for plain RoPE
    rp = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None)
    return dict(rp or {})


class FastLlama:
    """Llama forward with a preallocated KV cache; same interface as `duolab.runners.kvcache.CachedModel`.

    `length` is the number of cached tokens; `forward(ids)` runs `ids` at positions
    [length, length + len(ids)), returns their (len(ids), vocab) logits and caches their K/V.
    """

    @staticmethod
    def supports(config) -> bool:
        """True only for configs this forward reproduces exactly (else use transformers)."""
        get = lambda name, default=None: getattr(config, name, default)  # noqa: E731
        if get("model_type") != "llama" or get("hidden_act") != "silu":
            return False
        if get("attention_bias") or get("mlp_bias") or get("sliding_window") is not None:
            return False
        if (get("pretraining_tp", 1) or 1) != 1:
            return False  # transformers 4 split the matmuls into slices under pretraining_tp > 1
        rp = _rope_parameters(config)
        if any(isinstance(v, dict) for v in rp.values()):
            return False  # RoPE settings per layer type
        if rp.get("rope_type", rp.get("type", "default")) != "default":
            return False  # linear / dynamic / yarn / llama3 scaling change the frequencies
        return (rp.get("partial_rotary_factor") or 1.0) == 1.0

    def __init__(self, model, max_len: int | None = None):
        """From a transformers Llama model (its weights are copied: the caller may keep training
        or casting its model)."""
        self._build(model.config, model.state_dict(), max_len, copy=True)

    @classmethod
    def from_weights(cls, config, weights: dict[str, torch.Tensor], max_len: int | None = None) -> FastLlama:
        """From a Llama checkpoint's tensors, named as in its safetensors file
        ("model.layers.0.self_attn.q_proj.weight", ...), and its config (an object with the
        config's attributes): the same runner as FastLlama(model) of the model transformers
        loads from them, without building that model. The tensors are used as they are when
        already float32 on the CPU (no copy): hand over tensors nothing else writes to."""
        runner = cls.__new__(cls)
        runner._build(config, weights, max_len)
        return runner

    def _build(self, cfg, weights: dict[str, torch.Tensor], max_len: int | None, copy: bool = False) -> None:
        if not self.supports(cfg):
            raise ValueError("FastLlama does not support this config; use transformers instead")
        nh = cfg.num_attention_heads
        nkv = getattr(cfg, "num_key_value_heads", None) or nh
        hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // nh
        self.n_head, self.n_kv, self.head_dim = nh, nkv, hd
        self.q_dim, self.kv_dim, self.inter = nh * hd, nkv * hd, cfg.intermediate_size
        self.vocab = cfg.vocab_size
        self.max_len = int(cfg.max_position_embeddings if max_len is None else max_len)
        if self.max_len < 1:
            raise ValueError(f"max_len must be positive, got {self.max_len}")
        self.length = 0
        d = cfg.hidden_size
        # x * rsqrt(mean(x^2) + eps) is computed as x * rsqrt(eps + sum(x^2) / d), with the
        # 1/d and eps in one add (sum is a cheaper reduction than mean on CPU)
        self.eps, self.inv_d = torch.tensor(float(cfg.rms_norm_eps)), 1.0 / d

        def w(name: str) -> torch.Tensor:  # fp32 on the CPU; with `copy`, always a private copy
            return weights[name].detach().to("cpu", torch.float32, copy=copy)

        # Rotate pairs (i, i + hd/2) of each q/k head as complex numbers: reorder W_q/W_k rows
        # so those pairs sit side by side. Scores q.k are unchanged by the same reorder of q
        # and k (the cached keys are kept in this order); v and o_proj are untouched.
        perm = torch.arange(hd).view(2, hd // 2).t().reshape(-1)
        perm_qk = (torch.arange(nh + nkv)[:, None] * hd + perm).reshape(-1)
        n_layers = cfg.num_hidden_layers
        # per layer and position the row [k | v] of the qkv matmul, so one copy caches both; keys
        # and values are strided views of it, laid out for bmm: K (nkv, hd, pos), V (nkv, pos, hd)
        self.cache = torch.zeros(n_layers, self.max_len, 2 * self.kv_dim)
        kv = self.cache.view(n_layers, self.max_len, 2, nkv, hd)
        keys, values = kv[:, :, 0].permute(0, 2, 3, 1), kv[:, :, 1].transpose(1, 2)

        self.layers = []
        for i in range(n_layers):
            at, mlp = f"model.layers.{i}.self_attn.", f"model.layers.{i}.mlp."
            # the attention scale goes into W_q (RoPE is linear, so it commutes), each RMSNorm
            # weight into the columns of the matmul that follows it; weights are stored as
            # contiguous (in, out), the fastest layout for a 1-row mm on MKL, and
            # addmm(x, y, W) adds the residual for free
            wqk = torch.cat([w(at + "q_proj.weight") * hd**-0.5, w(at + "k_proj.weight")])[perm_qk]
            wqkv = torch.cat([wqk, w(at + "v_proj.weight")]) * w(f"model.layers.{i}.input_layernorm.weight")
            wgu = torch.cat([w(mlp + "gate_proj.weight"), w(mlp + "up_proj.weight")])
            wgu = wgu * w(f"model.layers.{i}.post_attention_layernorm.weight")
            wo, wd = w(at + "o_proj.weight"), w(mlp + "down_proj.weight")
            weights_i = [t.t().contiguous() for t in (wqkv, wo, wgu, wd)]
            # the cache views too are made once: indexing them per step costs more than the math
            self.layers.append((*weights_i, self.cache[i], keys[i], values[i]))
        self.embed = w("model.embed_tokens.weight")
        # lm_head: a model's own (tied: its embedding); a checkpoint of tied weights holds none
        tied = getattr(cfg, "tie_word_embeddings", False)
        head = self.embed if tied and "lm_head.weight" not in weights else w("lm_head.weight")
        self.lm_head = (head * w("model.norm.weight")).t().contiguous()  # its own copy either way

        # RoPE angles as transformers computes them (fp32 position * fp32 inverse frequency),
        # for every position once, as unit complex numbers (max_len, 1, hd/2) over heads
        rp = _rope_parameters(cfg)
        theta = float(rp.get("rope_theta", getattr(cfg, "rope_theta", None) or 10000.0))
        inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        angles = torch.arange(self.max_len, dtype=torch.int64).float()[:, None] * inv_freq
        self.rope = torch.complex(angles.cos(), angles.sin())[:, None]

    def reset(self) -> None:
        self.length = 0  # cache rows past `length` are never read

    def rollback(self, length: int) -> None:
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot roll back to {length} tokens, cache holds {self.length}")
        self.length = length

    @torch.inference_mode()
    def snapshot(self, start: int) -> torch.Tensor:
        if not 0 <= start <= self.length:
            raise ValueError(f"snapshot start {start} outside the cache (length {self.length})")
        return self.cache[:, start:self.length].clone()

    @torch.inference_mode()
    def restore(self, start: int, snap: torch.Tensor) -> None:
        n = snap.shape[1]
        if not 0 <= start <= self.length or start + n > self.max_len:
            raise ValueError(f"cannot restore {n} tokens at {start} (cache holds {self.length})")
        self.cache[:, start:start + n] = snap
        self.length = start + n

    @torch.inference_mode()
    def keep_rows(self, start: int, rows: list[int]) -> None:
        """Keep the cache up to `start` followed by the given rows (ascending, each >= start), in
        that order: after a tree forward, the accepted branch's rows become the sequence."""
        if sorted(set(rows)) != list(rows) or (rows and (rows[0] < start or rows[-1] >= self.length)):
            raise ValueError(f"rows must ascend within [{start}, {self.length}), got {rows}")
        self.cache[:, start:start + len(rows)] = self.cache[:, rows]
        self.length = start + len(rows)

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.add(self.eps, (x * x).sum(-1, keepdim=True), alpha=self.inv_d).rsqrt_()

    @torch.inference_mode()
    def forward(self, ids: list[int]) -> torch.Tensor:
        """Logits (len(ids), vocab) for `ids` appended to the cached prefix; caches their K/V."""
        T, pos = len(ids), self.length
        end = pos + T
        if end > self.max_len:
            raise ValueError(f"{end} tokens exceed max_len {self.max_len}")
        if T == 0:
            return torch.empty(0, self.vocab)
        if T == 1:
            if not 0 <= ids[0] < self.vocab:
                raise IndexError(f"token id {ids[0]} out of range")
            x = self.embed[ids[0]:ids[0] + 1]  # a slice: no index tensor to build
            mask = None  # the one new token may attend to every cached position
        else:
            x = self.embed[torch.tensor(ids, dtype=torch.long)]
            # chunk token i (position pos + i) sees positions <= pos + i
            mask = torch.full((T, end), float("-inf")).triu_(pos + 1)
        return self._run(x, self.rope[pos:end], mask, pos, end)

    @torch.inference_mode()
    def forward_tree(self, ids: list[int], positions: list[int], visible: torch.Tensor) -> torch.Tensor:
        """Logits (len(ids), vocab) for tokens of several branches at once, cached as rows
        [length, length + len(ids)): token i sits at sequence position `positions[i]` and attends to
        the cache rows where `visible[i]` (a (len(ids), length + len(ids)) bool mask) is True -- the
        shared prefix, its own branch's earlier rows and itself. One batched step of B branches
        costs far less than B single steps where a step is mostly overhead (the draft worker)."""
        T, pos = len(ids), self.length
        end = pos + T
        if end > self.max_len:
            raise ValueError(f"{end} tokens exceed max_len {self.max_len}")
        if T == 0 or len(positions) != T or tuple(visible.shape) != (T, end):
            raise ValueError(f"need one position per token and a ({T}, {end}) mask, got {len(positions)} "
                             f"positions and a mask of shape {tuple(visible.shape)}")
        x = self.embed[torch.tensor(ids, dtype=torch.long)]
        mask = torch.zeros(T, end).masked_fill_(~visible, float("-inf"))
        return self._run(x, self.rope[torch.tensor(positions, dtype=torch.long)], mask, pos, end)

    def _run(self, x: torch.Tensor, rope: torch.Tensor, mask: torch.Tensor | None, pos: int, end: int) -> torch.Tensor:
        """The layers over x (T new rows cached at [pos, end)) and the head: their logits."""
        T = x.shape[0]
        nh, nkv, hd, qd = self.n_head, self.n_kv, self.head_dim, self.q_dim
        g, qkd, inter = nh // nkv, qd + self.kv_dim, self.inter
        for wqkv, wo, wgu, wd, cache, keys, values in self.layers:
            qkv = torch.mm(self._norm(x), wqkv)  # (T, [q | k | v])
            torch.view_as_complex(qkv[:, :qkd].view(T, nh + nkv, hd // 2, 2)).mul_(rope)
            cache[pos:end] = qkv[:, qd:]
            # each kv head serves g query heads: batch over kv heads, g*T query rows each
            if T == 1:
                q = qkv[0, :qd].view(nkv, g, hd)
            else:
                q = qkv[:, :qd].view(T, nkv, g, hd).permute(1, 2, 0, 3).reshape(nkv, g * T, hd)
            att = torch.bmm(q, keys.narrow(2, 0, end))  # (nkv, g*T, end)
            if mask is not None:
                att = (att.view(nkv, g, T, end) + mask).view(nkv, g * T, end)
            y = torch.bmm(att.softmax(-1), values.narrow(1, 0, end))  # (nkv, g*T, hd)
            if T > 1:
                y = y.view(nkv, g, T, hd).permute(2, 0, 1, 3)
            x = torch.addmm(x, y.reshape(T, qd), wo)

            gu = torch.mm(self._norm(x), wgu)
            x = torch.addmm(x, F.silu(gu[:, :inter]) * gu[:, inter:], wd)

        self.length = end
        return torch.mm(self._norm(x), self.lm_head)
