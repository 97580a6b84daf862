"""Where the calling process and the draft worker run: the layout for an accelerator target (no
GPU needed: the layout only looks at the device), and the measured choice of the calling
process's CPU threads."""

from dataclasses import replace
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from duolab import runtime
from duolab.measure.caller_threads import caller_threads_note, choose_caller_threads
from duolab.runtime import (
    CpuLayout,
    caller_thread_candidates,
    default_layout,
    remember_caller_threads,
    target_placement,
)

CUDA = torch.device("cuda")  # a device object only: nothing here touches a GPU


@pytest.fixture
def fresh_choice(monkeypatch):
    """Forget any thread choice made earlier in this process."""
    monkeypatch.setattr(runtime, "_chosen_caller_threads", {})


@pytest.fixture
def cores(monkeypatch, fresh_choice):
    """Pretend the machine has n cores (only for layouts: nothing is pinned with these)."""
    def use(n):
        monkeypatch.setattr(runtime, "available_cores", lambda: list(range(n)))
    return use


def test_accelerator_layout_gives_the_draft_a_core_and_the_caller_a_chosen_thread_count(cores):
    cores(16)
    layout = default_layout(CUDA)
    assert layout == CpuLayout(None, [15], None, 1)  # not chosen yet: torch's default
    assert caller_thread_candidates(layout, default=16) == [1, 2, 4, 15]  # the draft's core is left out
    remember_caller_threads(CUDA, 2)
    chosen = default_layout(CUDA)
    assert chosen.target_threads == 2 and chosen.draft_cores == [15]
    assert default_layout(CUDA, caller_threads=3).target_threads == 3  # an explicit count wins
    assert default_layout(torch.device("cpu")) == CpuLayout(list(range(8)), list(range(8, 16)), 8, 8)


def test_cpu_host_layout_is_unchanged_by_a_choice_for_the_accelerator(cores):
    cores(2)
    remember_caller_threads(torch.device("cpu"), 2)  # not recorded: CPU layouts split the cores
    assert default_layout(torch.device("cpu")) == CpuLayout([0], [1], 1, 1)
    assert caller_thread_candidates(default_layout(torch.device("cpu")), default=2) == [1]
    assert default_layout(CUDA) == CpuLayout(None, [1], None, 1)
    assert caller_thread_candidates(default_layout(CUDA), default=2) == [1]


def test_layout_rejects_bad_thread_counts(cores):
    cores(4)
    for bad in (0, -1, 2.5, True, "2"):
        with pytest.raises(ValueError, match="caller_threads"):
            default_layout(CUDA, caller_threads=bad)
    with pytest.raises(ValueError, match="accelerator"):
        default_layout(torch.device("cpu"), caller_threads=2)
    with pytest.raises(ValueError, match="threads"):
        remember_caller_threads(CUDA, 0)


def test_target_placement_sets_and_restores_the_callers_threads():
    before = torch.get_num_threads()
    with target_placement(CpuLayout(None, [0], 1, 1)):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_profile_keeps_a_user_override_and_leaves_cpu_layouts_alone(cores):
    cores(16)
    gpu_pair = SimpleNamespace(target_device=CUDA, layout=default_layout(CUDA))
    gpu_pair.layout.target_threads = 3  # the user's override: no measurement replaces it
    assert caller_threads_note(gpu_pair) == {"caller_threads": 3, "caller_threads_from": "set before profiling"}
    cpu_pair = SimpleNamespace(target_device=torch.device("cpu"), layout=CpuLayout([0], [1], 1, 1))
    assert caller_threads_note(cpu_pair)["caller_threads_from"] == "cpu layout"
    assert cpu_pair.layout == CpuLayout([0], [1], 1, 1)


def test_choose_caller_threads_times_each_count_and_keeps_the_fastest(toy_pair, fresh_choice):
    saved = toy_pair.layout
    toy_pair.layout = CpuLayout(None, None, None, 1)
    try:
        table = choose_caller_threads(toy_pair, candidates=[1, 2], repeats=1)
        assert list(table.threads) == [1, 2]
        assert table.chosen.sum() == 1
        best = table.loc[table.total_ms.idxmin()]
        assert toy_pair.layout.target_threads == best.threads
        parts = table[["draft_ms", "verify_forward_ms", "verify_ms", "ar_step_ms"]]
        assert list(parts.sum(axis=1)) == pytest.approx(list(table.total_ms))
        assert (parts > 0).all().all()
        assert runtime._chosen_caller_threads == {}  # a CPU target's choice is not carried to accelerators
        with pytest.raises(ValueError, match="thread count"):
            choose_caller_threads(toy_pair, candidates=[0])
    finally:
        toy_pair.layout = saved


class _StandInPair(SimpleNamespace):
    """A pair's device and layout, nothing else; kept per pair like a real one (hashed by identity)."""

    __hash__ = object.__hash__


def test_a_saved_profile_still_chooses_the_callers_threads_on_an_accelerator(cores, monkeypatch):
    # duo's policy takes a profile saved on this machine; the thread choice must still be made (it
    # is this process's, not the file's), or every method runs at torch's default thread count
    from duolab.measure import caller_threads, profile_store
    cores(16)
    saved = SimpleNamespace(notes={"quick": False})  # a full profile
    monkeypatch.setattr(profile_store, "_saved_here", lambda pair: saved)
    monkeypatch.setattr(profile_store, "profile_pair", lambda pair, quick=False: pytest.fail("measured again"))
    chosen = []

    def choose(pair):
        pair.layout.target_threads = 4
        chosen.append(pair)
        return pd.DataFrame({"threads": [4], "total_ms": [1.0]})
    monkeypatch.setattr(caller_threads, "choose_caller_threads", choose)
    gpu_pair = _StandInPair(target_device=CUDA, layout=default_layout(CUDA))
    assert profile_store.cached_profile(gpu_pair) is saved
    assert chosen == [gpu_pair] and gpu_pair.layout.target_threads == 4
    assert profile_store.cached_profile(gpu_pair) is saved and len(chosen) == 1  # kept for the pair's life


# --- duo's split: the caller keeps what the target's launches need, the worker gets the rest -----

def test_two_cores_keep_one_plus_one(monkeypatch):
    monkeypatch.setattr(runtime, "available_cores", lambda: [0, 1])
    layout = default_layout(torch.device("cpu"))
    assert (layout.target_cores, layout.draft_cores, layout.target_threads, layout.draft_threads) == ([0], [1], 1, 1)
    assert runtime.worker_thread_candidates(layout) == [1]


def test_a_synthetic_16_core_host_offers_the_worker_every_other_core(monkeypatch):
    monkeypatch.setattr(runtime, "available_cores", lambda: list(range(16)))
    cpu = default_layout(torch.device("cpu"))  # a CPU-only host: the worker has its half
    assert cpu.draft_cores == list(range(8, 16)) and runtime.worker_thread_candidates(cpu) == [1, 2, 4, 8]
    gpu = default_layout(CUDA)  # before anything is measured: one core for the worker
    assert gpu.draft_cores == [15] and runtime.worker_thread_candidates(gpu) == [1]
    split = runtime.give_worker_the_rest(gpu, caller_threads=2)
    assert split.draft_cores == list(range(2, 16)) and split.duo_target_threads == 2
    assert runtime.worker_thread_candidates(split) == [1, 2, 4, 8, 14]
    assert runtime.give_worker_the_rest(gpu, caller_threads=40).draft_cores == [15]  # the worker keeps one


class FakeWorker:
    """Answers draft requests as if a draft token took MS[threads] ms."""
    MS = {1: 2.0, 2: 1.2, 4: 0.9, 8: 1.0, 14: 1.3}

    def __init__(self):
        self.threads, self.asked = 1, []

    def set_threads(self, n):
        self.threads = n
        self.asked.append(n)
        return n

    def request(self, context, plan):
        self.budget = plan.budget
        return 1

    def wait(self, request_id, timeout):
        return SimpleNamespace(start=0.0, end=self.budget * self.MS[self.threads] / 1000)


def test_choose_duo_layout_keeps_the_fastest_worker_thread_count(toy_pair, monkeypatch):
    from duolab.measure import caller_threads
    from duolab.methods import worker as worker_module

    fake = FakeWorker()
    monkeypatch.setattr(worker_module, "draft_worker", lambda pair: fake)
    monkeypatch.setattr(worker_module, "rekey_worker", lambda pair: None)
    old = toy_pair.layout
    toy_pair.layout = CpuLayout([0], list(range(1, 15)), 1, 1)  # as on a 15-core CPU-only host
    try:
        note = caller_threads.choose_duo_layout(toy_pair, repeats=2)
        assert note["worker_threads"] == 4 == toy_pair.layout.draft_threads == fake.threads
        assert note["worker_ms_per_token"] == {1: 2.0, 2: 1.2, 4: 0.9, 8: 1.0, 14: 1.3}
        assert sorted(set(fake.asked)) == [1, 2, 4, 8, 14]
        assert "measured" in note["worker_threads_from"]
    finally:
        toy_pair.layout = old


def test_choose_duo_layout_on_two_cores_measures_nothing(toy_pair, monkeypatch):
    from duolab.measure import caller_threads
    from duolab.methods import worker as worker_module

    monkeypatch.setattr(worker_module, "draft_worker", lambda pair: pytest.fail("no worker needed"))
    old = toy_pair.layout
    toy_pair.layout = CpuLayout([0], [1], 1, 1)
    try:
        note = caller_threads.choose_duo_layout(toy_pair)
        assert (note["worker_threads"], note["worker_cores"]) == (1, [1])
    finally:
        toy_pair.layout = old


def test_a_saved_duo_layout_is_applied_without_measuring():
    from duolab.measure.caller_threads import apply_duo_layout

    pair = SimpleNamespace(layout=CpuLayout(None, [15], None, 1))
    apply_duo_layout(pair, {"worker_cores": list(range(2, 16)), "worker_threads": 8, "duo_caller_threads": 2})
    assert (pair.layout.draft_cores, pair.layout.draft_threads, pair.layout.duo_target_threads) == (
        list(range(2, 16)), 8, 2)
    apply_duo_layout(pair, None)  # a profile without the note leaves the layout alone
    assert pair.layout.draft_threads == 8


def test_every_generation_says_how_many_threads_it_drafted_with(toy_pair):
    import duolab

    threads = {m: duolab.generate(toy_pair, "a b c a b", method=m, max_new_tokens=4, **kw).stats["draft_threads"]
               for m, kw in {"ar": {}, "pld": {}, "sps": {}, "duo": {"budget": 2, "catch_up": 0}}.items()}
    assert threads["ar"] == threads["pld"] == 0
    assert threads["sps"] == (toy_pair.layout.target_threads or torch.get_num_threads())
    assert threads["duo"] == toy_pair.layout.draft_threads


def test_duos_caller_keeps_off_the_workers_cores(monkeypatch):
    pinned = []
    monkeypatch.setattr(runtime, "available_cores", lambda: list(range(4)))
    monkeypatch.setattr(runtime, "pin_current_thread", lambda cores, threads: pinned.append((cores, threads)))
    layout = runtime.give_worker_the_rest(default_layout(CUDA), caller_threads=1)
    with target_placement(layout, beside_worker=True):
        pass
    with target_placement(replace(layout, target_threads=3)):  # SpS and the others: the caller's own choice
        pass
    assert pinned[0] == ([0], 1) and pinned[2] == (None, 3)
