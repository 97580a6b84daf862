"""DuoDecoding: greedy output equals AR (exactly in fp32, up to rounding ties in half precision),
sampling is lossless in multi-sequence and catch-up rounds, faults and cleanup are handled."""

import os
import time
from collections import Counter

import pytest

import duolab.methods.duo
from duolab import generate, load_pair
from duolab.lab.lossless import END, chi_square_test, exact_prefix_distribution
from duolab.methods.token_tree import TokenTree
from duolab.methods.worker import held_worker
from duolab.prompts import TASKS
from duolab.sampling import SamplingConfig
from recipe.toy import build_toy_pair
from tests.conftest import assert_matches_ar, broken_tree_verify, identity_prompts


@pytest.fixture(scope="module")
def unsure_pair(tmp_path_factory):
    """A toy pair with flatter distributions, so the drafter often opens several sequences."""
    pair = load_pair(*build_toy_pair(tmp_path_factory.mktemp("unsure"), head_scale=20.0))
    yield pair
    pair.close()


def _pids(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("budget, max_sequences", [(1, 1), (4, 1), (8, 4), (13, 3), (24, 8)])
def test_greedy_equals_ar_toy(unsure_pair, budget, max_sequences):
    ks = []
    for i in range(5):
        prompt = f"def step{i}(self, batch):"
        ar = generate(unsure_pair, prompt, max_new_tokens=48).token_ids
        g = generate(unsure_pair, prompt, method="duo", budget=budget, max_sequences=max_sequences,
                     max_new_tokens=48)
        assert g.token_ids == ar, (budget, max_sequences, prompt)
        ks += g.stats["k_per_round"]
        assert max(g.stats["k_per_round"]) <= min(max_sequences, budget)
    if max_sequences > 1 and budget > 1:
        assert max(ks) > 1, "multi-sequence drafting never opened a second sequence"


@pytest.fixture
def every_outcome_drafted(monkeypatch):
    """The worker drafts every outcome asked for: on toy pairs the target's forward is about as
    fast as a draft step, so stopping at the sync would leave the outcome path untested."""
    monkeypatch.setattr(duolab.methods.duo.WorkerDrafter, "stop_outcomes_at_sync", False)


@pytest.mark.parametrize("options", [{"budget": 6, "catch_up": 3, "outcomes": False},
                                     {"budget": 4, "catch_up": 0, "outcomes": True},
                                     {"budget": 16, "catch_up": 4, "outcomes": True}])
def test_greedy_equals_ar_with_catch_up_and_outcomes(unsure_pair, every_outcome_drafted, options):
    kinds, used, hit_rates = set(), 0, []
    for i in range(4):
        prompt = f"def step{i}(self, batch):"
        ar = generate(unsure_pair, prompt, max_new_tokens=48).token_ids
        g = generate(unsure_pair, prompt, method="duo", max_new_tokens=48, **options)
        assert g.token_ids == ar, (options, prompt)
        kinds |= set(g.trace["kind"])
        trees = g.details["draft_trees"]
        used += sum(tree.verified.source == "outcome" for tree in trees)
        hit_rates.append(g.stats["outcome_hit_rate"])
        for tree in trees:  # an outcome chain continues a correction the draft ranked second
            for chain in tree.outcomes:
                assert 0 <= tree.cut(chain) < len(tree.verified) and chain.tokens
    assert ("catch_up" in kinds) == (options["catch_up"] > 0)
    assert ("outcomes" in kinds) == options["outcomes"]
    assert (used > 0) == options["outcomes"], "pre-drafted outcome blocks were never verified"
    assert (max(hit_rates) > 0) == options["outcomes"]


@pytest.mark.parametrize("task", TASKS)
def test_greedy_equals_ar_on_every_task_default_pair(default_pair, task):
    # exact in fp32 (the CPU default); tie-aware where load_pair put the target in fp16 (CUDA)
    for prompt in identity_prompts(task):
        ar = generate(default_pair, prompt, max_new_tokens=32)
        # the default (per-round budget, catch-up and outcome chains) and the paper's single chain
        for options in ({}, {"budget": 6, "max_sequences": 1, "catch_up": 0, "outcomes": False}):
            got = generate(default_pair, prompt, method="duo", max_new_tokens=32, **options)
            assert_matches_ar(default_pair, prompt, ar, got, (task, options, prompt[:50]))


def test_trace_and_stats(unsure_pair):
    g = generate(unsure_pair, "def step(self, batch):", method="duo", budget=6, catch_up=2, max_new_tokens=40)
    s, trace = g.stats, g.trace
    assert set(trace["side"]) == {"target", "draft"}
    assert (trace["end_s"] >= trace["start_s"]).all()
    assert trace["end_s"].max() <= s["wall_time_s"] + 1e-3
    for side in ("target", "draft"):  # a side never does two things at once
        busy = trace[(trace["side"] == side) & (trace["kind"] != "wait")].sort_values("start_s")
        assert (busy["start_s"].values[1:] >= busy["end_s"].values[:-1] - 1e-6).all()
    assert 0 <= s["idle_fraction_target"] <= 1 and 0 <= s["idle_fraction_draft"] <= 1
    assert len(s["k_per_round"]) == (trace["kind"] == "draft").sum()
    assert set(trace["kind"]) <= {"forward", "sync", "wait", "draft", "catch_up", "outcomes"}
    assert s["tau"] == pytest.approx(s["new_tokens"] / s["target_forwards"])
    assert not s["worker_failed"]
    assert len(g.details["draft_trees"]) == len(s["k_per_round"])
    assert 0 <= s["empty_start_fraction"] <= 1 and 0 <= s["outcome_hit_rate"] <= 1
    assert s["budget_used"] == 6 and s["mean_budget"] <= 6


def decided_by(g, n: int) -> list[str]:
    """For each of the first n new tokens, what decided it: "k>1" when the round that committed it
    chose among k > 1 first tokens or verified a sequence so chosen, "catch_up" when it verified a
    catch-up chain, "outcome" when it verified a pre-drafted outcome chain, else "k=1"."""
    catch_up_rounds = set(g.trace.loc[g.trace["kind"] == "catch_up", "round"])
    trees = {tree.round: tree for tree in g.details["draft_trees"]}
    labels, source = [], "k=1"  # source: who picked the block verified in this round
    for r in range(g.stats["rounds"]):
        block = "catch_up" if r in catch_up_rounds else source
        tree = trees.get(r)
        if tree is None:  # a last round with nothing left to draft: it commits the rest
            labels += [block] * (len(g.token_ids) - len(labels))
            break
        verified, accepted, k = tree.verified, tree.accepted, len(tree.sequences)
        labels += [block] * accepted
        # the correction of a rejected block, or the token checked against this round's k first tokens
        labels.append(block if accepted < len(verified) else ("k>1" if k > 1 else "k=1"))
        chosen = tree.chosen
        source = "k>1" if chosen is not None and k > 1 and len(tree.sequences[chosen]) > 1 else "k=1"
        if tree.outcome_used is not None:
            source = "outcome"
    assert len(labels) >= len(g.token_ids)  # more when a committed EOS cut a round short
    return labels[:n]


DUO_PROMPT, DUO_TOKENS = "abcab", 3


def duo_fit(pair, sampling, n_samples, **options):
    """Chi-square of duo's first DUO_TOKENS tokens against the exact AR distribution, and what
    decided the tested tokens."""
    expected = exact_prefix_distribution(pair, DUO_PROMPT, sampling, n_tokens=DUO_TOKENS, min_prob=1e-6)
    counts, labels = Counter(), Counter()
    for i in range(n_samples):
        g = generate(pair, DUO_PROMPT, method="duo", max_new_tokens=DUO_TOKENS + 2, seed=7000 + i,
                     temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
                     budget=6, max_sequences=4, **options)
        counts[tuple((g.token_ids + [END] * DUO_TOKENS)[:DUO_TOKENS])] += 1
        labels.update(decided_by(g, DUO_TOKENS))
    stat, dof, p = chi_square_test(counts, expected)
    share = {kind: n / sum(labels.values()) for kind, n in labels.items()}
    return stat, dof, p, share


@pytest.mark.parametrize("sampling, catch_up, min_share", [
    (SamplingConfig(1.0), 1, {"k>1": 0.08, "catch_up": 0.25, "outcome": 0.03}),
    (SamplingConfig(0.7, 0, 0.9), 1, {"k>1": 0.1, "catch_up": 0.25, "outcome": 0.03}),
], ids=["T1.0-catch_up1", "T0.7-top_p0.9-catch_up1"])
def test_duo_sampling_is_lossless(letter_pair, every_outcome_drafted, sampling, catch_up, min_share):
    # a 6-token vocabulary keeps the exact distribution small, so 3 tokens are tested: the first
    # comes from the first round (k = 1 always); with a catch-up chain in round 1, the next ones
    # come from catch-up chains, from outcome chains pre-drafted for their rejections, and from
    # multi-sequence rounds; min_share asserts every path decided some of the tested tokens
    # (measured: T=1 13.7 % k>1, 40.9 % catch-up, 6.3 % outcome chains; T=0.7 top_p 0.9: 19.5 %,
    # 36.6 %, 6.0 %)
    stat, dof, p, share = duo_fit(letter_pair, sampling, 400, catch_up=catch_up, outcomes=True)
    print(f"duo {sampling} catch_up={catch_up}: chi2={stat:.1f} dof={dof} p={p:.3g} decided by {share}")
    for kind, least in min_share.items():
        assert share.get(kind, 0.0) >= least, (kind, share)
    assert dof >= 10
    assert p > 1e-3, f"chi2={stat:.1f} dof={dof} p={p:.2e}"


def test_the_test_catches_a_broken_residual_rule(letter_pair, monkeypatch):
    monkeypatch.setattr(TokenTree, "verify", broken_tree_verify())
    stat, dof, p, share = duo_fit(letter_pair, SamplingConfig(1.0), 600, catch_up=2, outcomes=False)
    print(f"duo, broken residual: chi2={stat:.1f} dof={dof} p={p:.3g} decided by {share}")
    assert p < 1e-3, f"a broken verifier went unnoticed: chi2={stat:.1f} dof={dof} p={p:.2e}"


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_worker_fault_mid_generation(toy_paths, mode):
    pair = load_pair(*toy_paths)
    try:
        prompt = "class Model:\n    def forward(self, x):"
        ar = generate(pair, prompt, max_new_tokens=60).token_ids
        # fixed budgets: every round asks the worker (the per-round budget may draft nothing when
        # the toy draft's request outlasts the toy target's forward, and then no fault is reached)
        fixed = {"budget": 4, "catch_up": 2}
        generate(pair, prompt, method="duo", max_new_tokens=4, **fixed)  # start the worker
        worker = held_worker(pair)
        worker.inject_fault(after_requests=3, mode=mode)
        start = time.perf_counter()
        g = generate(pair, prompt, method="duo", max_new_tokens=60, worker_timeout_s=1.0, **fixed)
        assert time.perf_counter() - start < 30
        assert g.stats["worker_failed"]
        assert g.token_ids == ar
        assert not _pids(worker.pid) or worker.proc.poll() is not None
        g2 = generate(pair, prompt, method="duo", max_new_tokens=60, **fixed)  # a fresh worker
        assert not g2.stats["worker_failed"] and g2.token_ids == ar
        assert held_worker(pair).pid != worker.pid
    finally:
        pair.close()


def test_bad_duo_options(toy_pair):
    for options, message in [({"budget": 0}, "budget"), ({"max_sequences": 0}, "max_sequences"),
                             ({"worker_timeout_s": 0}, "worker_timeout_s")]:
        with pytest.raises(ValueError, match=message):
            generate(toy_pair, "def f(x):", method="duo", **options)


def test_the_draft_workers_messages_carry_typed_chains():
    """A reply crosses the pipe pickled field by field (Compact): it must come back equal, typed."""
    import pickle

    from duolab.methods.drafting import Chain
    from duolab.methods.worker import DraftReply

    main = Chain([1, 2], [0.5, 0.9], [[(3, 0.2)], [(4, 0.05)]], start=9)
    reply = DraftReply([main], [(1, 0.5)], 0.45, [Chain([5, 6], [0.0, 0.8], [[], [(9, 0.1)]], start=7)],
                       id=3, start=1.0, end=2.0)
    back = pickle.loads(pickle.dumps(reply))
    assert back == reply and type(back.sequences[0]) is Chain and type(back.outcomes[0]) is Chain
    assert back.outcomes[0].start == 7 and back.chains == [main, reply.outcomes[0]]
    assert back.n_tokens == 2 + 1  # the outcome's correction was not drafted
    assert back.sequences[0].tail() == Chain([2], [0.9], [[(4, 0.05)]], start=10) and back.firsts == [1]


def test_duo_gets_its_profile_from_the_caller(toy_pair, monkeypatch):
    """The decoder never measures: without a profile its "auto" options are a ValueError, before any
    work; `generate` passes it the pair's stored profile and prior alpha."""
    from duolab.measure.profile_store import cached_profile, workload_estimate
    from duolab.methods import decode
    from duolab.methods.round_policy import RoundPolicy

    with pytest.raises(ValueError, match="latency profile.*profile= and alpha_prior="):
        decode(toy_pair, "The cat", method="duo", max_new_tokens=4)
    fixed = decode(toy_pair, "The cat", method="duo", max_new_tokens=8, budget=3, catch_up=0)
    assert fixed.stats["budget_used"] == 3
    seen = []
    original = RoundPolicy.from_options.__func__
    monkeypatch.setattr(RoundPolicy, "from_options",
                        classmethod(lambda cls, *args: seen.append(args[:2]) or original(cls, *args)))
    generate(toy_pair, "The cat", method="duo", max_new_tokens=8)  # (may profile first: fixed options)
    assert seen[-1] == (cached_profile(toy_pair, quick=True), workload_estimate(toy_pair).alpha)
