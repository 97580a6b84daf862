
import os

import pytest
import torch

from duolab.lab.divergence import first_divergence
from duolab.models import load_pair
from duolab.prompts import load_prompts
from recipe.toy import build_toy_pair

torch.set_num_threads(1)  # two cores: keep tests from oversubscribing them


@pytest.fixture(scope="session", autouse=True)
def spread_test_processes():
    """Under `pytest -n 2` (make test) both test processes would pin their target side to the first
    core and their draft workers to the second; the second process takes them the other way round."""
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        from duolab import runtime

        cores = runtime.available_cores
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(runtime, "available_cores", lambda: cores()[::-1])
            yield
    else:
        yield


@pytest.fixture(scope="session")
def toy_paths(tmp_path_factory):
    return build_toy_pair(tmp_path_factory.mktemp("toy_pair"))


@pytest.fixture(scope="session")
def toy_pair(toy_paths):
    return load_pair(*toy_paths)


@pytest.fixture(scope="session")
def default_pair():
    return load_pair()


def task_prompts(task: str, n: int | None = None) -> list[str]:
    return load_prompts(task, n)


# Greedy identity on the default pair: 3 prompts per task keep `make test` under 10 minutes;
# DUOLAB_FULL_TESTS=1 checks 20 per task (the pre-release run, ~15 more minutes on 2 cores).
IDENTITY_PROMPTS = 20 if os.environ.get("DUOLAB_FULL_TESTS", "") not in ("", "0") else 3


def identity_prompts(task: str) -> list[str]:
    return load_prompts(task, IDENTITY_PROMPTS)


@pytest.fixture(scope="session")
def letter_pair(tmp_path_factory):
    """Vocabulary of 6 (a, b, c and the specials) with flat distributions: the exact distribution
    over the first 3 new tokens has a few hundred prefixes, EOS is likely (~0.17 at the first
    token), and duo's drafter opens several sequences in most rounds."""
    pair = load_pair(*build_toy_pair(tmp_path_factory.mktemp("letters"), letters=3, head_scale=6.0))
    yield pair
    pair.close()


@pytest.fixture(scope="session")
def rough_letter_pair(tmp_path_factory):
    """The letter pair with a noisier draft head: sps and hf sample their drafts from q, and a wrong
    residual rule only shows where q differs from p (with noise=0.25 it took > 1000 samples)."""
    pair = load_pair(*build_toy_pair(tmp_path_factory.mktemp("rough_letters"), letters=3, head_scale=6.0,
                                     noise=1.0))
    yield pair
    pair.close()


def assert_matches_ar(pair, prompt: str, ar, got, what=""):
    """Greedy output against AR's: identical in fp32. A half-precision target may part from AR
    only where AR's two best logits tie at the dtype's resolution (a block forward rounds
    differently from AR's one-token forwards). Returns the divergence, if any."""
    if pair.target.dtype == torch.float32:
        assert got.token_ids == ar.token_ids, what
        return None
    d = first_divergence(pair, prompt, ar, got)
    assert d is None or d.within_rounding, (what, d)
    return d


def broken_tree_verify(origin: str | None = None):
    """A `TokenTree.verify` with the classic mistake, for negative controls: after a rejected child
    the verifier goes on as if nothing was rejected, not with what is left (norm(max(0, r - q)),
    for a point mass r without the rejected token), so the correction can be the rejected token
    again. Broken at every node, or only at children of the given origin ("lookup": the
    retrieved tokens)."""
    from duolab.sampling import TreeVerdict, sample

    def verify(tree, probs, generator):
        node, path = -1, []
        while True:
            r = probs[node + 1]
            for child in (c for c in range(len(tree)) if tree.parents[c] == node):
                tok, q = tree.tokens[child], tree.q[child]
                r_tok, q_tok = float(r[tok]), 1.0 if q is None else float(q[tok])
                if r_tok >= q_tok or (r_tok > 0 and float(torch.rand((), generator=generator)) * q_tok < r_tok):
                    path.append(child)
                    node = child
                    break
                if origin is None or tree.origins[child] == origin:
                    continue  # wrong: the rejected token keeps its mass
                else:
                    residual = (r - q).clamp_min(0.0) if q is not None else r.clone().index_fill_(0, torch.tensor(tok), 0.0)
                    r = residual / residual.sum() if residual.sum() > 0 else r
            else:
                return TreeVerdict(path, sample(r, generator))

    return verify
