"""DuoDecoding: greedy output equals AR, sampling is lossless, faults and cleanup are handled."""

import os
import time

import pytest

from duolab import generate, load_pair
from duolab.lossless import chi_square_test, exact_prefix_distribution, sample_prefixes
from duolab.sampling import SamplingConfig
from duolab.tasks import TASKS
from duolab.toy import build_toy_pair
from tests.conftest import task_prompts


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


@pytest.mark.parametrize("options", [{"catch_up": 3}, {"min_draft_prob": 0.5},
                                     {"budget": 16, "catch_up": 4, "min_draft_prob": 0.3}])
def test_greedy_equals_ar_with_catch_up_and_early_stop(unsure_pair, options):
    kinds = set()
    for i in range(4):
        prompt = f"def step{i}(self, batch):"
        ar = generate(unsure_pair, prompt, max_new_tokens=48).token_ids
        g = generate(unsure_pair, prompt, method="duo", max_new_tokens=48, **options)
        assert g.token_ids == ar, (options, prompt)
        kinds |= set(g.trace["kind"])
        if "min_draft_prob" in options:  # every drafted token after a sequence's first clears the bar
            for tree in g.details["draft_trees"]:
                assert all(p >= options["min_draft_prob"] for ps in tree["probs"] for p in ps[1:])
    assert ("catch_up" in kinds) == ("catch_up" in options)


@pytest.mark.parametrize("task", TASKS)
def test_greedy_equals_ar_on_every_task_default_pair(default_pair, task):
    for prompt in task_prompts(task, 20):
        ar = generate(default_pair, prompt, max_new_tokens=32).token_ids
        for options in ({"budget": 8, "max_sequences": 4}, {"budget": 6, "max_sequences": 1}):
            assert generate(default_pair, prompt, method="duo", max_new_tokens=32, **options).token_ids == ar


def test_trace_and_stats(unsure_pair):
    g = generate(unsure_pair, "def step(self, batch):", method="duo", budget=6, max_new_tokens=40)
    s, trace = g.stats, g.trace
    assert set(trace["side"]) == {"target", "draft"}
    assert (trace["end_s"] >= trace["start_s"]).all()
    assert trace["end_s"].max() <= s["wall_time_s"] + 1e-3
    for side in ("target", "draft"):  # a side never does two things at once
        busy = trace[(trace["side"] == side) & (trace["kind"] != "wait")].sort_values("start_s")
        assert (busy["start_s"].values[1:] >= busy["end_s"].values[:-1] - 1e-6).all()
    assert 0 <= s["idle_fraction_target"] <= 1 and 0 <= s["idle_fraction_draft"] <= 1
    assert len(s["k_per_round"]) == (trace["kind"] == "draft").sum()
    assert s["tau"] == pytest.approx(s["new_tokens"] / s["target_forwards"])
    assert not s["worker_failed"]
    assert len(g.details["draft_trees"]) == len(s["k_per_round"])


@pytest.mark.parametrize("sampling", [SamplingConfig(1.0), SamplingConfig(0.7, 0, 0.9)], ids=["T1.0", "T0.7-top_p0.9"])
def test_duo_sampling_is_lossless(unsure_pair, sampling):
    # three tokens: the second comes from choosing among k first tokens, the third from verifying
    # the chosen sequence's remaining drafts
    expected = exact_prefix_distribution(unsure_pair, "def f(x):", sampling, n_tokens=3, min_prob=1e-4)
    counts = sample_prefixes(unsure_pair, "def f(x):", "duo", 3000, sampling, n_tokens=3, seed=5000,
                             max_new_tokens=6, budget=6, max_sequences=4)
    stat, dof, p = chi_square_test(counts, expected)
    assert dof >= 5
    assert p > 1e-3, f"chi2={stat:.1f} dof={dof} p={p:.2e}"


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_worker_fault_mid_generation(toy_paths, mode):
    pair = load_pair(*toy_paths)
    try:
        prompt = "class Model:\n    def forward(self, x):"
        ar = generate(pair, prompt, max_new_tokens=60).token_ids
        generate(pair, prompt, method="duo", max_new_tokens=4)  # start the worker
        worker = pair.resources["draft_worker"]
        worker.inject_fault(after_requests=3, mode=mode)
        start = time.perf_counter()
        g = generate(pair, prompt, method="duo", max_new_tokens=60, worker_timeout_s=1.0)
        assert time.perf_counter() - start < 30
        assert g.stats["worker_failed"]
        assert g.token_ids == ar
        assert not _pids(worker.pid) or worker.proc.poll() is not None
        g2 = generate(pair, prompt, method="duo", max_new_tokens=60)  # a fresh worker
        assert not g2.stats["worker_failed"] and g2.token_ids == ar
        assert pair.resources["draft_worker"].pid != worker.pid
    finally:
        pair.close()


def test_close_and_garbage_collection_leave_no_worker(toy_paths):
    import gc

    pair = load_pair(*toy_paths)
    generate(pair, "def f(x):", method="duo", max_new_tokens=4)
    pid = pair.resources["draft_worker"].pid
    pair.close()
    assert not _pids(pid)
    pair = load_pair(*toy_paths)
    generate(pair, "def f(x):", method="duo", max_new_tokens=4)
    proc = pair.resources["draft_worker"].proc
    del pair
    gc.collect()
    proc.wait(timeout=10)
    assert proc.returncode is not None


def test_worker_dies_with_its_parent(toy_paths, tmp_path):
    """A kernel restart kills the process that owns the worker: the worker must not survive it."""
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from duolab import load_pair, generate\n"
        f"pair = load_pair({str(toy_paths[0])!r}, {str(toy_paths[1])!r})\n"
        "generate(pair, 'def f(x):', method='duo', max_new_tokens=4)\n"
        "print(pair.resources['draft_worker'].pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())
    assert _pids(worker_pid)
    parent.kill()  # like a kernel restart: no clean-up code runs
    parent.wait()
    deadline = time.time() + 10
    while _pids(worker_pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not _pids(worker_pid)


def test_bad_duo_options(toy_pair):
    for options, message in [({"budget": 0}, "budget"), ({"max_sequences": 0}, "max_sequences"),
                             ({"worker_timeout_s": 0}, "worker_timeout_s")]:
        with pytest.raises(ValueError, match=message):
            generate(toy_pair, "def f(x):", method="duo", **options)
