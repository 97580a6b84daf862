"""Autoregressive decoding (AR): one target forward per token, the baseline of every speedup."""

from __future__ import annotations

from duolab.methods.registry import register_method
from duolab.run import Run
from duolab.sampling import logits_to_probs, sample


@register_method("ar")
def autoregressive(run: Run) -> None:
    continue_autoregressively(run, run.pair.runner("target"))


def continue_autoregressively(run: Run, target) -> None:
    """Commit one target token per forward until the run is done. `target` is the target runner;
    its KV cache holds a prefix of the committed sequence (empty for AR, more when duo's draft
    worker failed mid-generation), and each forward feeds what it lacks."""
    while not run.done:
        with run.span("target", "forward"):
            logits = target.forward(run.sequence[target.length:])[-1]
        run.commit([sample(logits_to_probs(logits, run.sampling), run.generator)], forwards=1)
