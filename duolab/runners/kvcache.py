"""A causal LM together with its KV cache: feed new tokens, get their logits, roll back."""

from __future__ import annotations

import inspect

import torch
from transformers import DynamicCache


def cache_kwargs(model: torch.nn.Module, cache: DynamicCache) -> dict:
    """The keyword that hands `cache` to `model.forward`: `cache` (transformers 5.2x and later;
    `past_key_values` is deprecated and goes in 5.40), `past_key_values` before. The cache is
    updated in place either way."""
    params = inspect.signature(model.forward).parameters
    return {"cache": cache} if "cache" in params else {"past_key_values": cache}


class CachedModel:
    """Holds one sequence's KV cache for a Hugging Face causal LM.

    `length` is the number of tokens whose keys/values are cached; `rollback(n)` forgets every
    token after the first n (a rejected draft), without recomputing anything.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device | str | None = None):
        self.model = model
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.reset()

    def reset(self) -> None:
        self.cache = DynamicCache()
        self.length = 0

    @torch.inference_mode()
    def forward(self, ids: list[int]) -> torch.Tensor:
        """Run the model over `ids` appended to the cached prefix; returns (len(ids), V) float32
        logits on the CPU (verification and sampling happen on the CPU, V is small)."""
        x = torch.tensor([ids], dtype=torch.long, device=self.device)
        out = self.model(input_ids=x, use_cache=True, **cache_kwargs(self.model, self.cache))
        self.length += len(ids)
        return out.logits[0].float().cpu()

    @torch.inference_mode()
    def forward_tree(self, ids: list[int], positions: list[int], visible: torch.Tensor) -> torch.Tensor:
        """Like FastLlama.forward_tree: token i at sequence position `positions[i]`, seeing the cached
        rows where `visible[i]` is True (a (len(ids), length + len(ids)) bool mask); logits as `forward`."""
        T, end = len(ids), self.length + len(ids)
        if T == 0 or len(positions) != T or tuple(visible.shape) != (T, end):
            raise ValueError(f"need one position per token and a ({T}, {end}) mask, got {len(positions)} "
                             f"positions and a mask of shape {tuple(visible.shape)}")
        dtype = next(self.model.parameters()).dtype
        mask = torch.zeros(1, 1, T, end, dtype=dtype, device=self.device)
        mask.masked_fill_(~visible.to(self.device), torch.finfo(dtype).min)  # a custom 4D mask is used as given
        out = self.model(input_ids=torch.tensor([ids], device=self.device), attention_mask=mask,
                         position_ids=torch.tensor([positions], device=self.device), use_cache=True,
                         **cache_kwargs(self.model, self.cache))
        self.length = end
        return out.logits[0].float().cpu()

    @torch.inference_mode()
    def keep_rows(self, start: int, rows: list[int]) -> None:
        """Keep the cached tokens up to `start`, then the given rows (ascending, each >= start)."""
        if sorted(set(rows)) != list(rows) or (rows and (rows[0] < start or rows[-1] >= self.length)):
            raise ValueError(f"rows must ascend within [{start}, {self.length}), got {rows}")
        index, end = torch.tensor(rows, device=self.device), start + len(rows)
        for layer in self.cache.layers:  # the kept rows moved down in place, the rest cut off (no copy of the prefix)
            layer.keys[..., start:end, :] = layer.keys.index_select(-2, index)
            layer.values[..., start:end, :] = layer.values.index_select(-2, index)
            layer.keys, layer.values = layer.keys[..., :end, :], layer.values[..., :end, :]
        self.length = end

    def rollback(self, length: int) -> None:
        if length > self.length or length < 0:
            raise ValueError(f"cannot roll back to {length} tokens, cache holds {self.length}")
        if length < self.length:
            self.cache.crop(length - self.length)  # transformers 5: negative = tokens to drop
            self.length = length

    def snapshot(self, start: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Copy of the cached keys/values of positions [start, length): one saved draft branch."""
        return [(layer.keys[..., start:, :].clone(), layer.values[..., start:, :].clone())
                for layer in self.cache.layers]

    def restore(self, start: int, snap: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Put a snapshot back at position `start` (dropping whatever followed start)."""
        self.rollback(start)
        for layer, (k, v) in zip(self.cache.layers, snap, strict=False):
            layer.keys = torch.cat([layer.keys, k], dim=-2)
            layer.values = torch.cat([layer.values, v], dim=-2)
        self.length = start + (snap[0][0].shape[-2] if snap else 0)
