"""Sequential speculative decoding: draft, then verify, in turn. Speculative sampling (SpS) drafts
with the draft model, prompt lookup (PLD) copies from earlier n-grams; one loop serves both, since
the verifier does not care who drafted. The parallel schedule is duolab/methods/duo.py.
"""

from __future__ import annotations

from duolab.arguments import is_whole
from duolab.methods.drafting import Chain, ChainDrafter, Drafter, DraftPlan, PromptLookupDrafter
from duolab.methods.registry import check_budget, register_method, uses_runners
from duolab.run import Run
from duolab.sampling import logits_to_probs, verify_block


def speculative_loop(run: Run, drafter: Drafter, budget: int) -> None:
    """Draft `budget` tokens, verify them with one target forward, commit, repeat.

    The target's KV cache always holds the committed sequence except tokens not yet fed; each round
    feeds those plus the drafts, so the first round verifies prompt + drafts in one forward (the
    conventional SpS prefill: the first token waits for the drafter, which is what raises TTFT).
    """
    target = run.pair.runner("target")
    while True:
        context = run.sequence
        n = min(budget, run.remaining - 1)  # the target always adds one token of its own
        with run.span("draft", "draft"):
            drafter.ask(context, DraftPlan(n))
            tree = drafter.collect()
        chain = tree.sequences[0] if tree is not None and tree.sequences else Chain(start=len(context))
        run.drafted(len(chain))
        with run.span("target", "verify"):
            logits = target.forward(context[target.length:] + chain.tokens)[-(len(chain) + 1):]
        with run.span("target", "sync"):
            verdict = verify_block(logits_to_probs(logits, run.sampling), chain.tokens, chain.q, run.generator)
            target.rollback(len(context) + verdict.accepted)
        run.record_verdict(len(chain), verdict.accepted)
        drafter.accepted(chain, verdict.accepted)
        if run.commit(chain.tokens[: verdict.accepted] + [verdict.next_token], forwards=1, ends_round=True):
            return


@register_method("sps", defaults={"budget": 4}, check=check_budget, prepare=uses_runners("target", "draft"),
                 drafts_in="caller")
def speculative(run: Run, budget: int) -> None:
    """Speculative sampling with the draft model: draft and target take turns (never overlap)."""
    drafter = ChainDrafter(run.pair.runner("draft"), run.sampling, run.generator)
    run.drafts_with(run.pair.draft_runner)
    speculative_loop(run, drafter, budget)


def _check_pld(options: dict) -> None:
    check_budget(options)
    ngram = options.get("max_ngram")
    if not is_whole(ngram, 1):
        raise ValueError(f"max_ngram must be an integer >= 1, got {ngram!r}")


@register_method("pld", defaults={"budget": 8, "max_ngram": 3}, check=_check_pld)
def prompt_lookup(run: Run, budget: int, max_ngram: int) -> None:
    """Prompt lookup decoding: drafts copied from earlier n-gram matches, no draft model."""
    speculative_loop(run, PromptLookupDrafter(max_ngram), budget)
