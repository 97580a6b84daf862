"""A round's draft tree as one trie of tokens, verified by one target forward.

Chains from several sources -- the draft model's, prompt lookup's -- are grafted into one tree, at
the root or after a prefix of a chain already in it; a token a branch shares with the tree is
merged into the node already there. One target forward over all nodes, each seeing the committed
text, its ancestors and itself (the runner's `forward_tree`), gives every node's distribution;
`duolab.sampling.verify_tree` walks them; `keep_path` then leaves the target's cache holding the
committed text and the accepted path only. A tree that is a single chain goes through the
runner's plain `forward`, exactly as a chain always has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from duolab.methods.drafting import Chain
from duolab.sampling import TreeVerdict, verify_tree


@dataclass
class TokenTree:
    """Nodes in the order they were grafted: node i is `tokens[i]` after node `parents[i]` (-1: the
    root, i.e. the committed text, whose length is `start`), drafted by `origins[i]` ("model" or
    "lookup"), sampled from `q[i]` (None: a point mass)."""

    start: int
    tokens: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    q: list[torch.Tensor | None] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tokens)

    def graft(self, chain: Chain, at: int = -1) -> list[int]:
        """Add `chain` after node `at` (-1: the root); returns the nodes that hold its tokens. A
        token already there as a child of the same node is shared, not added twice."""
        nodes, node = [], at
        for i, tok in enumerate(chain.tokens):
            same = next((c for c in range(node + 1, len(self.tokens))
                         if self.parents[c] == node and self.tokens[c] == tok), None)
            if same is None:
                self.tokens.append(tok)
                self.parents.append(node)
                self.origins.append(chain.origin)
                self.q.append(None if chain.q is None else chain.q[i])
                self.depths.append(0 if node < 0 else self.depths[node] + 1)
                same = len(self.tokens) - 1
            nodes.append(same)
            node = same
        return nodes

    @property
    def is_chain(self) -> bool:
        return all(parent == i - 1 for i, parent in enumerate(self.parents))

    def path_tokens(self, path: list[int]) -> list[int]:
        return [self.tokens[i] for i in path]

    def verify(self, probs: torch.Tensor, generator: torch.Generator | None) -> TreeVerdict:
        """The verdict on this tree (probs: the target's rows after the root and each node)."""
        return verify_tree(probs, self.tokens, self.parents, self.q, generator)

    def visible(self, cached: int, pending: int) -> torch.Tensor:
        """The attention mask of one forward over `pending` committed tokens (causal) and then the
        nodes, after `cached` cached tokens: a node sees everything committed, its ancestors and itself."""
        rows = pending + len(self.tokens)
        mask = torch.zeros(rows, cached + rows, dtype=torch.bool)
        mask[:, :cached] = True
        mask[:pending, cached:cached + pending] = torch.ones(pending, pending, dtype=torch.bool).tril_()
        for i, parent in enumerate(self.parents):  # a node sees what its parent sees, and itself
            mask[pending + i] = mask[pending + parent if parent >= 0 else pending - 1]
            mask[pending + i, cached + pending + i] = True
        return mask


def forward_tree(target, context: list[int], tree: TokenTree) -> torch.Tensor:
    """The target's logits after the committed `context` and after each node (len(tree) + 1 rows),
    from one forward over the context's uncached tokens and the whole tree; the cache then holds
    the context and every node, in node order (see `keep_path`)."""
    pending = context[target.length:]
    if not pending:
        raise ValueError("the target must have the context's last token uncached (its logits are the root's)")
    if tree.is_chain:
        return target.forward(pending + tree.tokens)[-(len(tree) + 1):]
    cached = target.length
    positions = list(range(cached, len(context))) + [tree.start + d for d in tree.depths]
    logits = target.forward_tree(pending + tree.tokens, positions, tree.visible(cached, len(pending)))
    return logits[-(len(tree) + 1):]


def passed(nodes: list[int], path: list[int]) -> int:
    """How many of a chain's `nodes` the accepted `path` holds (its accepted prefix: a path that
    leaves a chain never comes back to it)."""
    on_path = set(path)
    return sum(node in on_path for node in nodes)


def keep_path(target, committed: int, path: list[int]) -> None:
    """After `forward_tree`: keep the cache rows of the committed text and of the accepted path's
    nodes, in path order, and drop the rest."""
    if path == list(range(len(path))):
        target.rollback(committed + len(path))
    else:
        target.keep_rows(committed, [committed + i for i in path])
