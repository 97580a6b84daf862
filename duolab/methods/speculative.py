"""Sequential speculative decoding: draft, then verify, in turn. Speculative sampling (SpS) drafts
with the draft model, prompt lookup (PLD) copies from earlier n-grams; one loop serves both, since
the verifier does not care who drafted, and SpS with `retrieval=` uses both sources in one round.
The parallel schedule is duolab/methods/duo.py.
"""

from __future__ import annotations

from duolab.arguments import is_whole
from duolab.methods.drafting import (
    Chain,
    ChainDrafter,
    Drafter,
    DraftPlan,
    PromptLookupDrafter,
    retrieve,
)
from duolab.methods.registry import check_budget, check_retrieval, register_method, uses_runners
from duolab.run import Run
from duolab.sampling import logits_to_probs, verify_block


def speculative_loop(run: Run, drafter: Drafter, budget: int, retrieval: Drafter | None = None,
                     retrieval_cap: int = 0) -> None:
    """Draft `budget` tokens, verify them with one target forward, commit, repeat.

    The target's KV cache always holds the committed sequence except tokens not yet fed; each round
    feeds those plus the drafts, so the first round verifies prompt + drafts in one forward (the
    conventional SpS prefill: the first token waits for the drafter, which is what raises TTFT).
    With a `retrieval` source (up to `retrieval_cap` tokens a round): where it proposes a chain
    after the context, the round verifies that and drafts nothing (it costs no draft time);
    otherwise it verifies the drafts and then what it proposes after them, in the same forward.
    """
    target = run.pair.runner("target")
    while True:
        context = run.sequence
        room = run.remaining - 1  # the target always adds one token of its own
        chain = more = Chain(start=len(context), origin="lookup")
        if retrieval is not None:
            with run.span("target", "retrieve"):
                more = retrieve(retrieval, context, min(retrieval_cap, room))
        if not more:
            with run.span("draft", "draft"):
                drafter.ask(context, DraftPlan(min(budget, room)))
                tree = drafter.collect()
            chain = tree.sequences[0] if tree is not None and tree.sequences else Chain(start=len(context))
            if retrieval is not None and chain:
                with run.span("target", "retrieve"):
                    more = retrieve(retrieval, context + chain.tokens, min(retrieval_cap, room - len(chain)))
        block = chain.then(more) if more else chain
        run.drafted(len(block))
        with run.span("target", "verify"):
            logits = target.forward(context[target.length:] + block.tokens)[-(len(block) + 1):]
        with run.span("target", "sync"):
            verdict = verify_block(logits_to_probs(logits, run.sampling), block.tokens, block.q, run.generator)
            target.rollback(len(context) + verdict.accepted)
        run.record_verdict(len(block), verdict.accepted)
        drafter.accepted(chain, min(verdict.accepted, len(chain)))
        if more:
            retrieval.accepted(more, max(0, verdict.accepted - len(chain)))
        if run.commit(block.tokens[: verdict.accepted] + [verdict.next_token], forwards=1, ends_round=True):
            if retrieval is not None:
                run.add_stats(retrieved_tokens=retrieval.proposed, retrieved_accepted=retrieval.passed)
            return


def _check_sps(options: dict) -> None:
    check_budget(options)
    check_retrieval(options)


@register_method("sps", defaults={"budget": 4, "retrieval": 0}, check=_check_sps,
                 prepare=uses_runners("target", "draft"), drafts_in="caller")
def speculative(run: Run, budget: int, retrieval: int) -> None:
    """Speculative sampling with the draft model: draft and target take turns (never overlap).
    `retrieval` > 0: prompt-lookup chains of up to that many tokens beside the drafts (see
    `speculative_loop`)."""
    drafter = ChainDrafter(run.pair.runner("draft"), run.sampling, run.generator)
    run.drafts_with(run.pair.draft_runner)
    speculative_loop(run, drafter, budget, PromptLookupDrafter() if retrieval else None, retrieval)


def _check_pld(options: dict) -> None:
    check_budget(options)
    ngram = options.get("max_ngram")
    if not is_whole(ngram, 1):
        raise ValueError(f"max_ngram must be an integer >= 1, got {ngram!r}")


@register_method("pld", defaults={"budget": 8, "max_ngram": 3}, check=_check_pld)
def prompt_lookup(run: Run, budget: int, max_ngram: int) -> None:
    """Prompt lookup decoding: drafts copied from earlier n-gram matches, no draft model."""
    speculative_loop(run, PromptLookupDrafter(max_ngram), budget)
