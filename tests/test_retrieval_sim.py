"""Retrieved chains in the simulator (duolab.predict.simulate, `retrieval=`): one linear forward
verifies the model's drafts and what prompt lookup proposes after them, or a retrieved chain alone
where there is nothing else to verify. And the gate built on it (duolab.lab.retrieval_gate)."""

import pandas as pd
import pytest

from duolab.lab.retrieval_gate import gate_table, gate_verdict
from duolab.latency_profile import Workload
from duolab.predict.budget import predicted_tokens_per_s
from duolab.predict.simulate import simulate
from tests.test_budget import synthetic

FLAT = dict(target_ms=10.0, slope=0.0, draft_ms=0.5)  # verifying more tokens costs nothing (a GPU)
STEEP = dict(target_ms=10.0, slope=1.0, draft_ms=0.5)  # each verified token costs 10 % of T_t(1)
N = 64


def test_no_retrieval_is_the_plain_method():
    lookups = [(8, 3)] * N
    for method, budget in (("sps", 4), ("duo", "auto")):
        plain = simulate(synthetic(**STEEP), method, 0.6, budget, new_tokens=N).stats
        zero = simulate(synthetic(**STEEP), method, 0.6, budget, new_tokens=N, lookups=lookups, retrieval=0).stats
        assert zero == plain


@pytest.mark.parametrize("method", ["sps", "duo"])
def test_retrieval_that_always_matches_commits_more_per_forward(method):
    perfect = [(16, 16)] * N
    base = simulate(synthetic(**FLAT), method, 0.5, 4, new_tokens=N, lookups=perfect).stats
    grafted = simulate(synthetic(**FLAT), method, 0.5, 4, new_tokens=N, lookups=perfect, retrieval=8).stats
    assert grafted["tau"] > base["tau"] + 2
    assert grafted["tokens_per_s"] > base["tokens_per_s"]


def test_retrieval_that_never_matches_costs_its_verification():
    """Lookups that propose 8 tokens after the drafts and never pass: SpS drafts and commits as
    before (the lookup has no match where it would replace the drafts), but verifies 8 more."""
    junk = [(0, 0) if i % 5 == 0 else (8, 0) for i in range(N)]
    agreement = [True] * N  # every draft passes, so the lookup after them is always reached
    for shape, slower in ((FLAT, False), (STEEP, True)):
        p = synthetic(**shape)
        base = simulate(p, "sps", 0.6, 4, new_tokens=N, agreement=agreement, lookups=[(0, 0)] * N,
                        retrieval=8).stats
        grafted = simulate(p, "sps", 0.6, 4, new_tokens=N, agreement=agreement, lookups=junk, retrieval=8).stats
        assert grafted["new_tokens"] == base["new_tokens"]
        assert (grafted["wall_time_s"] > 1.2 * base["wall_time_s"]) == slower


def test_duo_verifies_a_retrieved_chain_instead_of_starting_empty():
    agreement = [False] * N  # the draft never agrees: duo alone starts most rounds empty
    lookups = [(4, 4)] * N
    p = synthetic(**FLAT)
    base = simulate(p, "duo", 0.0, "auto", new_tokens=N, agreement=agreement, lookups=lookups).stats
    grafted = simulate(p, "duo", 0.0, "auto", new_tokens=N, agreement=agreement, lookups=lookups, retrieval=4).stats
    assert base["tau"] == pytest.approx(1.0)
    assert grafted["tau"] > 4 and grafted["retrieved_fraction"] > 0.7


def test_bad_retrieval_options():
    p = synthetic(**FLAT)
    with pytest.raises(ValueError, match="retrieval must be an integer >= 0"):
        simulate(p, "sps", 0.5, 4, lookups=[], retrieval=-1)
    with pytest.raises(ValueError, match="retrieval adds prompt-lookup chains to sps or duo only"):
        simulate(p, "pld", 0.5, 4, lookups=[], retrieval=2)
    with pytest.raises(ValueError, match="simulating retrieval needs lookups"):
        simulate(p, "sps", 0.5, 4, retrieval=2)


def _workload(matched: int, agree: bool) -> Workload:
    return Workload(0.5, [(40, N)], N, [[agree] * N], lookups=[[(16, matched)] * N])


def test_the_gate_reads_the_best_setting_of_every_method():
    workloads = {"copying": _workload(16, False), "fresh": _workload(0, True)}
    table = gate_table(synthetic(**FLAT), workloads, duo_error=1.0)
    assert list(table.index) == ["copying", "fresh", "median"]
    # on a copying task prompt lookup is best among the simple methods; the graft keeps its gain
    assert table.loc["copying", "best simple"] == pytest.approx(table.loc["copying", "pld"])
    assert table.loc["copying", "duo+retrieval"] >= 0.9 * table.loc["copying", "pld"]
    # where the draft always agrees and lookups never match, SpS and duo carry it
    assert table.loc["fresh", "pld"] == pytest.approx(1.0, abs=0.01)
    assert table.loc["fresh", "duo+retrieval"] > 1.5
    ratio = table["duo+retrieval"] / table["best simple"]
    assert table.loc["median", "duo+retrieval / best simple"] == pytest.approx(ratio.iloc[:2].median())
    work = workloads["fresh"]
    assert table.loc["fresh", "duo"] == pytest.approx(
        predicted_tokens_per_s(synthetic(**FLAT), work, "duo", "auto") / predicted_tokens_per_s(synthetic(**FLAT), work, "ar", 1))
    assert "gate" in gate_verdict({"flat": table})


def test_the_lessons_sentence_reads_the_measured_table():
    from duolab.lab.lesson_text import retrieval_text

    cols = ["duo+retrieval", "best simple", "sps+retrieval", "duo", "duo+retrieval / best simple",
            "duo+retrieval / sps+retrieval"]
    measured = pd.DataFrame([[1.2, 1.0, 1.1, 1.3, 1.2, 1.09], [0.9, 1.5, 1.0, 1.0, 0.6, 0.9],
                             [1.05, 1.25, 1.05, 1.15, 0.9, 0.995]], index=["a", "b", "median"], columns=cols)
    text = retrieval_text(measured)
    assert "reached 1.05x AR" in text and "ahead of that best simple method on 1 of 2 tasks (a)" in text
    assert "slower than AR on b" in text and "retrieval costs duo" in text and "simulation" not in text
    assert "over it is 0.99x in the median: the parallel schedule adds nothing on top of retrieval" in text
    little = measured.copy()
    little.loc["median", "duo+retrieval / sps+retrieval"] = 1.01
    assert "the parallel schedule adds little on top" in retrieval_text(little)
    gate = pd.DataFrame({"duo+retrieval / best simple": [1.08]}, index=["median"])
    assert "1.08x on the h200 profile (simulated, not measured)" in retrieval_text(measured, {"h200": gate})
