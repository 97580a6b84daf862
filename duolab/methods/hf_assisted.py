"""Hugging Face's own assisted generation, behind duolab's signature: the peer a user would pick.

What its API lets us measure: wall time, TTFT (through a streamer, which transformers calls as
soon as tokens are committed), target and draft forward counts (through forward hooks). It does
not report accepted tokens per round, so acceptance is derived from the forward counts:
accepted = new tokens - target forwards (each target forward adds exactly one non-draft token).
"""

from __future__ import annotations

import time

import torch

from duolab.methods.registry import check_budget, register_method, uses_runners
from duolab.run import Run


class _FirstTokenClock:
    """A streamer that remembers when the first new tokens arrived (the first put is the prompt)."""

    def __init__(self):
        self.calls = 0
        self.first_token_at: float | None = None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2 and self.first_token_at is None:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        pass


class _ForwardCounter:
    def __init__(self, model: torch.nn.Module):
        self.count = 0
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, *args) -> None:
        self.count += 1

    def remove(self) -> None:
        self.handle.remove()


# a constant number of assistant tokens (= budget), never cut short by the assistant's confidence
ASSISTANT_SETTINGS = {"num_assistant_tokens": None, "num_assistant_tokens_schedule": "constant",
                      "assistant_confidence_threshold": 0.0}


# prepare: the target's runner, warmed on pair.target, whose forward transformers' generate runs
@register_method("hf", defaults={"budget": 4}, check=check_budget, prepare=uses_runners("target"),
                 drafts_in="caller")
def hf_assisted(run: Run, budget: int) -> None:
    """transformers' assisted generation with a constant number of assistant tokens (= budget)."""
    pair = run.pair
    ids = torch.tensor([run.prompt_ids], device=pair.target_device)
    s = run.sampling
    kwargs = {"do_sample": False} if s.greedy else {
        "do_sample": True, "temperature": s.temperature, "top_k": s.top_k or None, "top_p": s.top_p,
    }
    # transformers samples from the global RNG; seed it from the run's seed (the only way its API allows)
    torch.manual_seed(run.seed)
    clock = _FirstTokenClock()
    target_calls, draft_calls = _ForwardCounter(pair.target), _ForwardCounter(pair.draft)
    config = pair.draft.generation_config  # the assistant's, set for this call and put back after
    saved = {k: getattr(config, k, None) for k in ASSISTANT_SETTINGS}
    config.update(**{**ASSISTANT_SETTINGS, "num_assistant_tokens": budget})
    try:
        with run.span("target", "hf_generate"):
            out = pair.target.generate(
                ids, assistant_model=pair.draft, max_new_tokens=run.max_new_tokens,
                streamer=clock, eos_token_id=pair.eos_token_id, pad_token_id=pair.tokenizer.pad_token_id,
                **kwargs,
            )
    finally:
        target_calls.remove()
        draft_calls.remove()
        config.update(**saved)
    new = out[0, len(run.prompt_ids):].tolist()
    run.commit(new)
    # one assistant forward per proposed token; each target forward adds one token of its own
    run.report_totals(clock.first_token_at, target_calls.count, draft_calls.count,
                      max(0, len(run.tokens) - target_calls.count))
    run.drafts_with("transformers (hf assistant)")  # on purpose: what users of transformers run
    run.add_stats(draft_forwards=draft_calls.count, target_runner="transformers")
