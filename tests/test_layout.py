"""Where the calling process and the draft worker run: the layout for an accelerator target (no
GPU needed: the layout only looks at the device), and the measured choice of the calling
process's CPU threads."""

from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from duolab import runtime
from duolab.runtime import (
    CpuLayout,
    caller_thread_candidates,
    default_layout,
    remember_caller_threads,
    target_placement,
)
from duolab.timing.caller_threads import caller_threads_note, choose_caller_threads

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


def test_a_saved_profile_still_chooses_the_callers_threads_on_an_accelerator(cores, monkeypatch):
    # duo's policy takes a profile saved on this machine; the thread choice must still be made (it
    # is this process's, not the file's), or every method runs at torch's default thread count
    from duolab.timing import caller_threads, profile_store
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
    gpu_pair = SimpleNamespace(target_device=CUDA, layout=default_layout(CUDA), resources={})
    assert profile_store.cached_profile(gpu_pair) is saved
    assert chosen == [gpu_pair] and gpu_pair.layout.target_threads == 4
    assert profile_store.cached_profile(gpu_pair) is saved and len(chosen) == 1  # kept for the pair's life
