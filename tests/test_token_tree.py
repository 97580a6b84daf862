"""Draft trees (duolab.methods.token_tree, sampling.verify_tree) and the retrieval source and plan
(duolab.methods.retrieval): the trie, the one-forward tree attention on both runners, the exact
multi-draft verifier, prompt lookup's index against a plain scan, and the round plan."""

import random

import pytest
import torch

from duolab.latency_profile import LatencyProfile
from duolab.methods.drafting import Chain
from duolab.methods.retrieval import (
    PromptLookupDrafter,
    Retrieval,
    SourceAcceptance,
    grafted_tree,
    lookup_acceptance,
)
from duolab.methods.token_tree import TokenTree, forward_tree, keep_path
from duolab.runners.fast_llama import FastLlama
from duolab.runners.kvcache import CachedModel
from duolab.sampling import verify_block, verify_tree


def _tree() -> TokenTree:
    tree = TokenTree(20)
    model = tree.graft(Chain([30, 31, 32]))
    tree.graft(Chain([40, 41], origin="lookup"))  # a second branch at the root
    tree.graft(Chain([33, 34], origin="lookup"), at=model[1])  # after the model's first two tokens
    tree.graft(Chain([31, 50], origin="lookup"), at=model[0])  # shares 31 with the model's chain
    return tree


def test_grafts_share_the_tokens_they_have_in_common():
    tree = _tree()
    assert tree.tokens == [30, 31, 32, 40, 41, 33, 34, 50]
    assert tree.parents == [-1, 0, 1, -1, 3, 1, 5, 1]
    assert tree.depths == [0, 1, 2, 0, 1, 2, 3, 2]
    assert tree.origins == ["model"] * 3 + ["lookup"] * 5
    assert not tree.is_chain and TokenTree(5, [1, 2], [-1, 0]).is_chain
    mask = tree.visible(cached=2, pending=1)  # 2 cached, 1 pending, then 8 nodes
    assert mask.shape == (9, 11)
    assert mask[0].tolist() == [True] * 3 + [False] * 8
    # node 6 (34): cached, pending, 30, 31, 33 and itself
    assert [i - 3 for i in range(3, 11) if mask[1 + 6, i]] == [0, 1, 5, 6]


@pytest.mark.parametrize("runner", ["fast", "transformers"])
def test_one_forward_over_a_tree_gives_each_branch_its_own_logits(default_pair, runner):
    model = default_pair.target
    target = FastLlama(model) if runner == "fast" else CachedModel(model)
    context = list(range(5, 25))
    tree = _tree()

    def alone(seq):  # the logits after seq, from a fresh cache
        return FastLlama(model).forward(seq)[-1]

    target.forward(context[:-3])
    logits = forward_tree(target, context, tree)
    assert logits.shape[0] == len(tree) + 1
    assert torch.allclose(logits[0], alone(context), atol=1e-3)
    for i in range(len(tree)):
        path, node = [], i
        while node >= 0:
            path.insert(0, node)
            node = tree.parents[node]
        assert torch.allclose(logits[1 + i], alone(context + tree.path_tokens(path)), atol=1e-3), i
    keep_path(target, len(context), [0, 1, 5])  # 30 31 33: the cache holds that branch only
    assert target.length == len(context) + 3
    assert torch.allclose(target.forward([7])[-1], alone(context + [30, 31, 33, 7]), atol=1e-3)
    with pytest.raises(ValueError, match="rows must ascend"):
        target.keep_rows(3, [5, 4])


def test_a_chain_is_verified_as_verify_block_does_draw_for_draw():
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    p = torch.softmax(torch.randn(5, 7, generator=torch.Generator().manual_seed(1)), -1)
    q = torch.softmax(torch.randn(4, 7, generator=torch.Generator().manual_seed(2)), -1)
    for _ in range(200):
        drafts = torch.multinomial(q, 1, generator=gen_a).squeeze(1).tolist()
        torch.multinomial(q, 1, generator=gen_b)
        a = verify_tree(p, drafts, [-1, 0, 1, 2], list(q), gen_a)
        b = verify_block(p, drafts, q, gen_b)
        assert (a.accepted, a.next_token) == (b.accepted, b.next_token) and a.path == list(range(a.accepted))
    with pytest.raises(ValueError, match="parent 2 must come before it"):
        verify_tree(p[:3], [1, 2], [-1, 2], None, None)


@pytest.mark.parametrize("sampled_first", [False, True])
def test_branches_at_one_node_commit_a_token_distributed_as_p(sampled_first):
    """A root with a sampled child (drawn from q) or a point mass, then two point-mass siblings:
    the committed first token is distributed as p; a verifier that draws its correction from p
    itself, not from the residual, is not (the negative control)."""
    p, q = torch.tensor([0.1, 0.4, 0.2, 0.3]), torch.tensor([0.6, 0.1, 0.2, 0.1])
    gen, n = torch.Generator().manual_seed(0), 20000

    def run(broken: bool) -> torch.Tensor:
        counts = torch.zeros(4)
        for _ in range(n):
            first = int(torch.multinomial(q, 1, generator=gen)) if sampled_first else 0
            siblings = [t for t in (2, 3, 0, 1) if t != first][:2]
            probs = torch.stack([p] * 4)
            rows = [q if sampled_first else None, None, None]
            v = verify_tree(probs, [first] + siblings, [-1, -1, -1], rows, gen)
            if v.path:
                tok = [first, *siblings][v.path[0]]
            else:  # broken: the correction drawn from p, not from what is left of it (the classic mistake)
                tok = int(torch.multinomial(p, 1, generator=gen)) if broken else v.next_token
            counts[tok] += 1
        return counts / n

    assert torch.allclose(run(False), p, atol=0.012)
    assert not torch.allclose(run(True), p, atol=0.03)


def test_greedy_walks_the_argmax_branch():
    tree = _tree()
    # argmax after the root is 30, after 30 it is 31, after 31 it is 33, after 33 it is 9 (not drafted)
    argmax = {-1: 30, 0: 31, 1: 33, 5: 9}
    probs = torch.zeros(len(tree) + 1, 60)
    for node in range(-1, len(tree)):
        probs[node + 1, argmax.get(node, 59)] = 1.0
    v = tree.verify(probs, None)
    assert v.path == [0, 1, 5] and v.next_token == 9


def _scan(context, n, max_ngram=3):
    """Prompt lookup as a plain right-to-left scan (what the index must reproduce)."""
    L = len(context)
    for size in range(min(max_ngram, L - 1), 0, -1):
        for start in range(L - size - 1, -1, -1):
            if context[start:start + size] == context[L - size:]:
                return context[start + size:start + size + n]
    return []


def test_the_lookup_index_finds_what_a_scan_finds():
    rnd, drafter = random.Random(0), PromptLookupDrafter()
    committed = [rnd.randrange(6) for _ in range(5)]
    for _ in range(300):
        # the committed text grows; a speculative suffix comes and goes (the index must drop it)
        context = committed + [rnd.randrange(6) for _ in range(rnd.randrange(4))]
        assert drafter.lookup(context, 4) == _scan(context, 4), context
        committed.append(rnd.randrange(6))
    assert drafter.lookup([1], 4) == [] and drafter.lookup([1, 1], 4) == [1]


def test_chains_offer_different_next_tokens_with_their_match_lengths():
    context = [1, 2, 3, 9, 5, 2, 3, 7, 0, 1, 2, 3]
    chains = PromptLookupDrafter().chains(context, 3, max_chains=3)
    # "1 2 3" (the longest n-gram) at the start first, then the latest "2 3"; "3" adds no new next token
    assert [c.tokens for c in chains] == [[9, 5, 2], [7, 0, 1]]
    assert [c.match for c in chains] == [3, 2]
    assert chains[0].tokens == PromptLookupDrafter().lookup(context, 3)
    assert all(c.origin == "lookup" and c.start == len(context) for c in chains)


def test_acceptance_estimates():
    a = SourceAcceptance(0.5, weight=2)
    a.observe(4, 4)  # all passed: no failure
    a.observe(4, 1)  # one passed, then a failure
    assert a.rate == pytest.approx((1 + 5) / (1 + 5 + 1 + 1))
    assert lookup_acceptance([[(4, 2), (0, 0), (3, 3)], [(2, 0)]]) == pytest.approx(5 / 7)
    assert lookup_acceptance(None, default=0.3) == 0.3


def _profile(per_token_ms: float) -> LatencyProfile:
    curve = [10.0 + per_token_ms * n for n in range(64)]
    return LatencyProfile("test", "t", "d", "cpu", curve, {}, 1.0, 0.0, 1.0, 0.0, 0.0)


def test_the_round_plan_keeps_retrieved_tokens_while_they_pay():
    context = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3]  # lookup proposes 4 5 6 7 8 ...
    free = Retrieval("auto", _profile(0.0), lookup_prior=0.6)
    costly = Retrieval("auto", _profile(5.0), lookup_prior=0.6)
    capped = Retrieval(2, None, lookup_prior=0.6)
    assert [len(g.chain) for g in free.grafts(context, [], 0.5, 64)] == [8]
    assert 1 <= sum(len(g.chain) for g in costly.grafts(context, [], 0.5, 64)) < 8
    assert [g.chain.tokens for g in capped.grafts(context, [], 0.5, 64)] == [[4, 5]]
    # after a model chain: grafts at its prefixes where lookup disagrees with it, and after it
    # (at the root lookup agrees with the model's 4; after 4 it proposes 5, the model 9; after 9, nothing)
    grafts = Retrieval(16).grafts(context, [4, 9], 0.5, 64)
    assert [(g.at, g.chain.tokens[:2]) for g in grafts] == [(1, [5, 6])]
    tree, model_nodes = grafted_tree(context, Chain([4, 9]), grafts)
    assert model_nodes == [0, 1] and grafts[0].nodes[0] == 2 and tree.parents[2] == 0


def test_bad_room_leaves_no_grafts():
    assert Retrieval(8).grafts([1, 2, 1], [5, 6], 0.5, 2) == []


def test_sps_verifies_lookup_alone_only_where_it_pays_more_than_drafting():
    context = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3]
    for lookup, model, pays in ((0.1, 0.9, False), (0.95, 0.1, True)):
        plan = Retrieval("auto", _profile(1.0), lookup_prior=lookup)
        grafts = plan.grafts(context, [], model, 64)
        assert grafts and plan.lookup_alone_pays(grafts, model, budget=4) is pays, (lookup, model)
    fixed = Retrieval(8, None, lookup_prior=0.1)  # retrieval=N: lookup first wherever it has a chain
    assert fixed.lookup_alone_pays(fixed.grafts(context, [], 0.9, 64), 0.9, 4)
    assert not fixed.lookup_alone_pays([], 0.9, 4)


def test_a_match_length_counts_past_the_longest_ngram():
    context = [4, 1, 2, 3, 8, 6, 4, 1, 2, 3]  # "1 2 3" found, and the 4 before it matches too
    [chain] = PromptLookupDrafter().chains(context, 2)
    assert chain.tokens == [8, 6] and chain.match == 4


def test_a_rounds_lookups_are_timed_for_the_profile(toy_pair):
    from duolab.measure.profiling import measure_lookup

    ms = measure_lookup(toy_pair, context=128, rounds=5)
    assert 0 < ms < 1000

