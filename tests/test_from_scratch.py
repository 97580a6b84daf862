"""Notebook 01's block test: at the trial count the notebook uses, it catches every broken verifier
and passes the right ones, on a made-up round where the coin decides at every position."""

import pytest
import torch

from duolab.lab.from_scratch import (
    BLOCK_TRIALS,
    BROKEN_VERIFIERS,
    CORRECT_VERIFIERS,
    LEVEL,
    block_test,
    break_table,
    synthetic_round,
)


@pytest.fixture(scope="module")
def table():
    return break_table(range(5), BLOCK_TRIALS)  # the whole module's cost: 50 block tests


@pytest.mark.parametrize("name", BROKEN_VERIFIERS)
def test_every_break_is_caught(table, name):
    assert table.loc[name, "caught"] >= 4, f"{name}: caught on {table.loc[name, 'caught']} of 5 seeds\n{table}"


@pytest.mark.parametrize("name", CORRECT_VERIFIERS)
def test_right_verifiers_pass(table, name):
    assert table.loc[name, "caught"] <= 1, f"{name}: caught on {table.loc[name, 'caught']} of 5 seeds\n{table}"
    assert (table.filter(like="p, seed").loc[name] > LEVEL).sum() == 5 - table.loc[name, "caught"]


def test_the_coin_decides_at_every_position():
    p, q = synthetic_round(gamma=2, m=3)
    assert p.shape == (5, 4) and q.shape == (4, 4)
    assert torch.allclose(p.sum(1), torch.ones(5, dtype=p.dtype)) and torch.allclose(q.sum(1), torch.ones(4, dtype=q.dtype))
    assert len({tuple(row.tolist()) for row in p[:4]}) == 4  # each position its own row
    for p_i, q_i in zip(p, q, strict=False):
        assert ((p_i > 0) & (p_i < q_i)).sum() >= 2  # 0 < p/q < 1: the coin decides
        assert ((q_i == 0) & (p_i > 0)).any()  # only the residual commits this token
        assert ((p_i == 0) & (q_i > 0)).any()  # the target never takes this one


def test_first_token_only_and_bad_input():
    right = CORRECT_VERIFIERS["duolab's verify_block"]
    stat, dof, pvalue = block_test(right, trials=500, m=1)
    assert dof == 2 and pvalue > LEVEL  # m = 1: the first token alone, three cells
    for bad in ({"trials": 0}, {"trials": 2.5}, {"m": 0}, {"gamma": 0}):
        with pytest.raises(ValueError):
            block_test(right, **{"trials": 10, **bad})
    with pytest.raises(ValueError, match="accepted 3 of 2"):
        block_test(lambda p, q, drafts, generator: (3, 0), trials=10)
