"""Retrieval: prompt lookup as a draft source, and its chains grafted into a round's draft tree.

`PromptLookupDrafter` is pld's drafter and the retrieval source of sps and duo with `retrieval=`.
It proposes what followed earlier occurrences of the context's last n-gram, with no model. It
keeps an index of where each token occurs (updated by the tokens a context adds), so a lookup
reads the occurrences of one token instead of scanning the context. `chains` offers several
continuations with different next tokens, each with its match length (how many tokens of the
context's tail its occurrence shares).

`Retrieval` is one generation's use of it. Each round it looks up chains at the root and after
each prefix of the model's chain (where the model's next token differs), and its round plan
chooses which of them to graft, and how many tokens of each:
  * a retrieved token's value is its chance to be reached and to pass: the chance that the
    model's chain gets to the graft point (its running acceptance, `model_rate`), times the
    lookup source's acceptance for that match length (`SourceAcceptance`, running, starting from
    the workload's measured prompt-lookup acceptance), per token of the chain;
  * with a latency profile (`retrieval="auto"`), tokens are taken in order of value while they
    raise expected tokens per ms of the target's forward, T_t(n); verifying one more token is not
    free on a CPU (T_t grows with n) and nearly free on a GPU. Up to `cap` (16) tokens;
  * without one (`retrieval=N`), up to N tokens in order of value.
"""

from __future__ import annotations

from dataclasses import dataclass

from duolab.latency_profile import LOOKUP_CAP, LatencyProfile
from duolab.methods.drafting import Chain, Drafter, DraftPlan, DraftTree, common_prefix
from duolab.methods.token_tree import TokenTree, passed

MATCH_LONG = 32  # a match length is counted up to this many tokens


class PromptLookupDrafter(Drafter):
    """Prompt lookup decoding: no draft model. Find the latest earlier occurrence of the context's
    last n-gram (longest first, down to one token) and propose the tokens that followed it."""

    def __init__(self, max_ngram: int = 3):
        super().__init__()
        self.max_ngram = max_ngram
        self._seen: list[int] = []  # the context the index describes
        self._where: dict[int, list[int]] = {}  # token -> its positions in _seen, ascending

    def _index(self, context: list[int]) -> None:
        n = len(self._seen)
        keep = n if context[:n] == self._seen else common_prefix(self._seen, context)
        for tok in reversed(self._seen[keep:]):  # a drafted suffix that is gone: its positions are the last
            self._where[tok].pop()
        del self._seen[keep:]
        for i in range(keep, len(context)):
            self._where.setdefault(context[i], []).append(i)
        self._seen.extend(context[keep:])

    def _matches(self, context: list[int]):
        """(start, size) of earlier occurrences of the context's tail: longest n-gram first, each
        size right to left, the tail itself skipped."""
        self._index(context)
        L = len(context)
        for size in range(min(self.max_ngram, L - 1), 0, -1):
            tail = context[L - size:]
            for start in reversed(self._where.get(tail[0], ())):
                if start <= L - size - 1 and context[start:start + size] == tail:
                    yield start, size

    def lookup(self, context: list[int], n: int) -> list[int]:
        """Up to n tokens that followed the latest earlier match of the context's tail."""
        for start, size in self._matches(context):
            return context[start + size:start + size + n]
        return []

    def chains(self, context: list[int], n: int, max_chains: int = 1) -> list[Chain]:
        """Up to `max_chains` chains of up to n tokens after `context`, with different first tokens,
        in `lookup`'s order (the first is `lookup`'s), each with its match length."""
        out: list[Chain] = []
        L = len(context)
        for start, size in self._matches(context):
            follow = context[start + size:start + size + n]
            if n < 1 or any(c.tokens[0] == follow[0] for c in out):
                continue
            end, match = start + size, size
            while match < MATCH_LONG and end - match > 0 and context[end - match - 1] == context[L - match - 1]:
                match += 1
            out.append(Chain(follow, [1.0] * len(follow), [[] for _ in follow], L, "lookup", match=match))
            if len(out) == max_chains:
                break
        return out

    def draft(self, context: list[int], plan: DraftPlan) -> DraftTree:
        follow = self.lookup(context, plan.budget)
        return DraftTree([Chain(follow, [1.0] * len(follow), [[] for _ in follow], len(context), "lookup")])


class SourceAcceptance:
    """A draft source's per-token acceptance a: a chain's tokens pass one after another, each with
    chance a given the ones before (a chain of L tokens passes a + a^2 + ... + a^L on average). A
    running maximum-likelihood estimate from the passes and first failures seen, starting from
    `prior` counted as `weight` such observations."""

    def __init__(self, prior: float, weight: float = 4.0):
        self.passes, self.fails = prior * weight, (1 - prior) * weight

    def observe(self, proposed: int, passed: int) -> None:
        self.passes += passed
        self.fails += passed < proposed

    @property
    def rate(self) -> float:
        return self.passes / (self.passes + self.fails)


MATCH_BUCKETS = (1, 2, 3, 6, 12)  # lookup's acceptance is kept apart for match lengths from each of these


def lookup_acceptance(lookups: list[list[tuple[int, int]]] | None, default: float = 0.5) -> float:
    """Prompt lookup's per-token acceptance on recorded workloads (`Workload.lookups`: per position,
    tokens proposed and how many the target's output continues with), as `SourceAcceptance`
    estimates it; `default` where nothing was proposed."""
    estimate = SourceAcceptance(0.0, weight=0.0)
    for prompt in lookups or []:
        for proposed, matched in prompt:
            if proposed:
                estimate.observe(proposed, matched)
    return estimate.rate if estimate.passes + estimate.fails else default


@dataclass
class Graft:
    """A retrieved chain grafted after the first `at` tokens of the round's model chain."""

    at: int
    chain: Chain
    nodes: list[int] | None = None  # its tokens' nodes in the round's tree


class Retrieval:
    """One generation's retrieved chains (module docstring): the source, the round plan, the tallies."""

    def __init__(self, cap: int | str, profile: LatencyProfile | None = None, lookup_prior: float = 0.5,
                 max_root_chains: int = 2):
        self.source = PromptLookupDrafter()
        self.cap = LOOKUP_CAP if cap == "auto" else int(cap)
        self.profile = profile if cap == "auto" else None
        self.max_root_chains = max_root_chains
        self.acceptance = {b: SourceAcceptance(lookup_prior) for b in MATCH_BUCKETS}
        self.rounds_decided = 0  # rounds whose committed tokens include a retrieved one
        self.branch_rounds = 0  # ... from a chain grafted beside the model's tokens (not after them)

    def _acceptance(self, chain: Chain) -> SourceAcceptance:
        return self.acceptance[max(b for b in MATCH_BUCKETS if b <= max(chain.match, 1))]

    def grafts(self, context: list[int], model: list[int], model_rate: float, room: int) -> list[Graft]:
        """The plan's chains for a round that verifies `model` (the model's chain, maybe empty)
        after `context`, with at most `room` tokens in all."""
        room = min(self.cap, room - len(model))
        if room < 1:
            return []
        found = []
        for j in range(len(model) + 1):
            for chain in self.source.chains(context + model[:j], room, self.max_root_chains if j == 0 else 1):
                if j == len(model) or chain.tokens[0] != model[j]:
                    found.append(Graft(j, chain))
        return self._plan(found, model, model_rate, room)

    def _plan(self, found: list[Graft], model: list[int], a: float, room: int) -> list[Graft]:
        """Tokens in order of value (see the module docstring), kept while they pay (with a
        profile) and up to `room`; each graft cut to the tokens kept."""
        m = len(model)
        reach = [a**j * (1 - a) for j in range(m)] + [a**m]  # the model's chain stops at j / passes
        values = []
        for g, graft in enumerate(found):
            rate, v = self._acceptance(graft.chain).rate, reach[graft.at]
            for i in range(len(graft.chain)):
                v *= rate
                values.append((-v, g, i))
        values.sort()
        expected, n, keep = 1 + sum(a**i for i in range(1, m + 1)), m + 1, [0] * len(found)
        for neg_v, g, i in values[:room]:
            if self.profile is not None:
                t = self.profile.target_ms
                if (expected - neg_v) / t(n + 1) < expected / t(n):
                    break
            expected, n, keep[g] = expected - neg_v, n + 1, i + 1
        return [Graft(g.at, _cut(g.chain, k)) for g, k in zip(found, keep, strict=True) if k]

    def lookup_alone_pays(self, grafts: list[Graft], model_rate: float, budget: int) -> bool:
        """For sps: is a round that verifies these root chains alone (no draft time) worth more
        tokens per ms than one that drafts `budget` tokens (at `model_rate`) on the target's core?
        Without a profile: yes whenever lookup has a chain (`retrieval=N`)."""
        if not grafts or self.profile is None:
            return bool(grafts)
        p, a = self.profile, model_rate
        found = sum((self._acceptance(g.chain).rate ** (i + 1) for g in grafts for i in range(len(g.chain))), 0.0)
        alone = (1 + found) / (p.target_ms(1 + sum(len(g.chain) for g in grafts)) + p.lookup_ms)
        drafting = (1 + sum(a**i for i in range(1, budget + 1))) / (
            budget * p.sps_draft_ms_per_token + p.target_ms(budget + 1) + p.lookup_ms)
        return alone >= drafting

    def told(self, grafts: list[Graft], model_nodes: list[int], path: list[int]) -> None:
        """After the verdict (`path`): tell the source what passed, update the acceptance of each
        chain the verifier tried, and count the round if it committed a retrieved token."""
        model_passed = passed(model_nodes, path)
        deciding = None  # the graft the path went into (one at most: a path leaves the model's chain once)
        for graft in grafts:
            ok = passed(graft.nodes, path)
            self.source.accepted(graft.chain, ok)
            if ok or model_passed == graft.at:  # its graft point was reached: it was tried
                self._acceptance(graft.chain).observe(len(graft.chain), ok)
            deciding = graft if ok else deciding
        self.rounds_decided += deciding is not None
        self.branch_rounds += deciding is not None and deciding.at < len(model_nodes)

    def stats(self) -> dict:
        return {"retrieved_tokens": self.source.proposed, "retrieved_accepted": self.source.passed,
                "retrieval_rounds": self.rounds_decided, "retrieval_branch_rounds": self.branch_rounds}


def _cut(chain: Chain, n: int) -> Chain:
    return Chain(chain.tokens[:n], chain.probs[:n], chain.alternatives[:n], chain.start, chain.origin,
                 None, chain.match)


def grafted_tree(context: list[int], model: Chain, grafts: list[Graft]) -> tuple[TokenTree, list[int]]:
    """The round's tree: the model's chain from the root, each graft after its prefix (the root
    when `at` is 0); returns the tree and the model chain's nodes (each graft learns its own)."""
    tree = TokenTree(len(context))
    model_nodes = tree.graft(model)
    for graft in grafts:
        graft.nodes = tree.graft(graft.chain, model_nodes[graft.at - 1] if graft.at else -1)
    return tree, model_nodes
