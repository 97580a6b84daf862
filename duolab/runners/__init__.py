"""Runners: a model's forward pass with a KV cache that can roll back, snapshot and restore.

Every decoder feeds tokens through a runner (`Pair.runner("target")`, `Pair.runner("draft")`):
`forward(tokens)` appends them to the cache and returns their logits, `rollback(n)` keeps the
first n. `kvcache.CachedModel` wraps any transformers causal LM; `fast_llama.FastLlama` is a
plain-torch Llama for the small CPU draft, where per-step overhead is most of the cost.
"""
