"""Sequential speculative decoding: draft, then verify, in turn. Speculative sampling (SpS) drafts
with the draft model, prompt lookup (PLD) copies from earlier n-grams; one loop serves both, since
the verifier does not care who drafted, and SpS with `retrieval=` grafts prompt lookup's chains
into the model's chain, a tree verified in one forward (duolab.methods.retrieval).
The parallel schedule is duolab/methods/duo.py.
"""

from __future__ import annotations

from duolab.arguments import is_whole
from duolab.latency_profile import LatencyProfile
from duolab.methods.drafting import Chain, ChainDrafter, Drafter, DraftPlan
from duolab.methods.registry import check_budget, check_retrieval, register_method, uses_runners
from duolab.methods.retrieval import PromptLookupDrafter, Retrieval, SourceAcceptance, grafted_tree
from duolab.methods.token_tree import forward_tree, keep_path, passed
from duolab.run import Run
from duolab.sampling import logits_to_probs


def speculative_loop(run: Run, drafter: Drafter, budget: int, retrieval: Retrieval | None = None,
                     alpha_prior: float = 0.5, lookup_first: bool = True) -> None:
    """Draft `budget` tokens, verify them with one target forward, commit, repeat.

    The target's KV cache always holds the committed sequence except tokens not yet fed; each round
    feeds those plus the drafts, so the first round verifies prompt + drafts in one forward (the
    conventional SpS prefill: the first token waits for the drafter, which is what raises TTFT).
    With `retrieval`: where prompt lookup has chains after the context, the round verifies those
    and drafts nothing (they cost no draft time; with a profile, only where that is worth more
    tokens per ms than drafting: `Retrieval.lookup_alone_pays`; `lookup_first=False` drafts
    anyway); otherwise it drafts and grafts lookup's chains at the root and after prefixes of the
    drafts (`Retrieval.grafts`), one tree in the same forward.
    """
    target = run.pair.runner("target")
    model_rate = SourceAcceptance(alpha_prior)  # the drafts' running acceptance, for the round plan
    while True:
        context = run.sequence
        room = run.remaining - 1  # the target always adds one token of its own
        chain, grafts = Chain(start=len(context)), []
        if retrieval is not None and lookup_first:
            with run.span("target", "retrieve"):
                grafts = retrieval.grafts(context, [], model_rate.rate, room)
                if not retrieval.lookup_alone_pays(grafts, model_rate.rate, min(budget, room)):
                    grafts = []  # drafting pays more: the round drafts, and grafts lookup beside
        if not grafts:
            with run.span("draft", "draft"):
                drafter.ask(context, DraftPlan(min(budget, room)))
                tree = drafter.collect()
            chain = tree.sequences[0] if tree is not None and tree.sequences else chain
            if retrieval is not None and chain:
                with run.span("target", "retrieve"):
                    grafts = retrieval.grafts(context, chain.tokens, model_rate.rate, room)
        tree, model_nodes = grafted_tree(context, chain, grafts)
        run.drafted(len(tree))
        with run.span("target", "verify"):
            logits = forward_tree(target, context, tree)
        with run.span("target", "sync"):
            verdict = tree.verify(logits_to_probs(logits, run.sampling), run.generator)
            keep_path(target, len(context), verdict.path)
        run.record_verdict(len(tree), verdict.accepted)
        model_passed = passed(model_nodes, verdict.path)
        drafter.accepted(chain, model_passed)
        if chain:
            model_rate.observe(len(chain), model_passed)
        if retrieval is not None:
            retrieval.told(grafts, model_nodes, verdict.path)
        if run.commit(tree.path_tokens(verdict.path) + [verdict.next_token], forwards=1, ends_round=True):
            if retrieval is not None:
                run.add_stats(**retrieval.stats())
            return


def _check_sps(options: dict) -> None:
    check_budget(options)
    check_retrieval(options)
    if not isinstance(options.get("lookup_first"), bool):
        raise ValueError(f"lookup_first must be True or False, got {options.get('lookup_first')!r}")


@register_method("sps", defaults={"budget": 4, "retrieval": 0, "lookup_first": True}, check=_check_sps,
                 prepare=uses_runners("target", "draft"), drafts_in="caller",
                 needs_profile=lambda options: options["retrieval"] == "auto")
def speculative(run: Run, budget: int, retrieval: int | str, lookup_first: bool,
                profile: LatencyProfile | None = None, alpha_prior: float = 0.5, lookup_prior: float = 0.5) -> None:
    """Speculative sampling with the draft model: draft and target take turns (never overlap).
    `retrieval`: prompt lookup's chains grafted beside the drafts, up to that many tokens a round,
    or "auto", as many as pay by the latency profile; 0: none. `lookup_first`: where lookup has
    a chain, verify it and skip drafting (see `speculative_loop`)."""
    drafter = ChainDrafter(run.pair.runner("draft"), run.sampling, run.generator)
    run.drafts_with(run.pair.draft_runner)
    source = Retrieval(retrieval, profile, lookup_prior) if retrieval else None
    speculative_loop(run, drafter, budget, source, alpha_prior, lookup_first)


def _check_pld(options: dict) -> None:
    check_budget(options)
    ngram = options.get("max_ngram")
    if not is_whole(ngram, 1):
        raise ValueError(f"max_ngram must be an integer >= 1, got {ngram!r}")


@register_method("pld", defaults={"budget": 8, "max_ngram": 3}, check=_check_pld)
def prompt_lookup(run: Run, budget: int, max_ngram: int) -> None:
    """Prompt lookup decoding: drafts copied from earlier n-gram matches, no draft model."""
    speculative_loop(run, PromptLookupDrafter(max_ngram), budget)
