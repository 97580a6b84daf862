"""The previous pair's H100 latency profile (data/earlier_pairs/stage2-target-h100/h100-host.json, copied from the shared measurement):
consistent once corrected, never picked for a CPU run, and a budget model that picks well on it."""

import shutil
import warnings
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from duolab.latency_profile import LatencyProfile, find_profile
from duolab.methods.round_policy import round_budget
from duolab.paths import REPO_DIR
from duolab.predict.budget import choose_budget, equal_time_budget, predict

PROFILES = REPO_DIR / "data" / "profiles"
H100 = REPO_DIR / "data" / "earlier_pairs" / "stage2-target-h100" / "h100-host.json"
BUDGETS = range(1, 33)
RUN = {"new_tokens": 96, "prompt_tokens": 80}  # the H100 run's generations


@pytest.fixture(scope="module")
def h100() -> LatencyProfile:
    return LatencyProfile.load(H100)


def test_h100_profile_is_the_shared_measurement_corrected(h100):
    assert h100.target_device == "cuda"
    assert h100.notes["source"] == "../shared/measurements/h100-default-pair.json"
    assert h100.notes["measured"].startswith("measured on an H100 host")
    assert h100.check() == []
    assert h100.target_ms(64) < 1.2 * h100.target_ms(1)  # flat: verifying 64 costs about as much as 1


def test_raw_ar_step_is_flagged_and_the_correction_is_reproducible(h100):
    raw = replace(h100, ar_step_ms=h100.notes["raw"]["ar_step_ms"], notes={})
    assert raw.ar_step_ms == pytest.approx(49.5, abs=0.01)
    [problem] = raw.check()
    assert "ar_step_ms=49.5" in problem and "T_t(1)=8.06" in problem
    with pytest.warns(UserWarning, match="used 8.058, the smaller"):
        fixed = raw.reconciled()
    assert fixed.ar_step_ms == h100.ar_step_ms == pytest.approx(h100.target_ms(1))
    assert fixed.check() == [] and fixed.notes["corrected"] == h100.notes["corrected"]


def test_measurements_within_50_percent_are_left_alone(h100):
    close = replace(h100, ar_step_ms=1.45 * h100.target_ms(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert close.check() == [] and close.reconciled() is close
    assert replace(h100, ar_step_ms=0.6 * h100.target_ms(1)).check()  # too fast is flagged too


def test_h100_profile_is_never_picked_for_a_cpu_run(tmp_path):
    def pair(device):
        return SimpleNamespace(target_source=str(REPO_DIR / "data" / "models" / "target"),
                               draft_source=str(REPO_DIR / "data" / "models" / "draft"),
                               target_device=torch.device(device),
                               draft_runner="fast", target_runner="transformers")

    found = find_profile(pair("cpu"), PROFILES)
    assert found is None or found.target_device == "cpu"
    shutil.copy(H100, tmp_path)
    assert find_profile(pair("cpu"), tmp_path) is None
    assert find_profile(pair("cuda"), tmp_path).target_device == "cuda"


@pytest.mark.parametrize("method", ["duo", "sps"])
@pytest.mark.parametrize("alpha", [0.6, 0.7, 0.8, 0.9, 0.95])
def test_chosen_budget_is_within_10_percent_of_the_simulated_best(h100, method, alpha):
    """Chosen as run_budget does (5 simulated runs), judged by a sweep with 40 runs."""
    chosen = choose_budget(h100, alpha, method, BUDGETS, runs=5, **RUN)
    rate = predict(h100, alpha, [method], BUDGETS, runs=40, **RUN).set_index("budget").predicted_tokens_per_s
    assert rate[chosen] >= 0.9 * rate.max()


def test_duo_budget_on_a_flat_target_is_set_by_the_drafts_speed(h100):
    """T_t is flat, so extra drafts cost the target nothing: duo drafts about as many tokens as
    fit in one target forward, at every acceptance rate worth drafting for."""
    fits = equal_time_budget(h100, BUDGETS)
    assert 14 <= fits <= 22
    for alpha in (0.6, 0.9):  # the paper's schedule: a fixed budget, nothing else to do with the time
        paper = choose_budget(h100, alpha, "duo", BUDGETS, runs=5, catch_up=0, outcomes=False, **RUN)
        assert 0.6 * fits <= paper <= fits + 2
    # duo's per-round budget: as many as fit while later tokens are still likely to be reached;
    # at low acceptance the rest of the forward goes to outcome chains instead
    assert fits - 3 <= round_budget(h100, 0.95, 1) <= fits + 1
    assert round_budget(h100, 0.6, 1) < round_budget(h100, 0.9, 1) <= fits + 1


def test_a_saved_profile_stands_in_only_for_this_machine(monkeypatch, tmp_path):
    """duo's per-round choices may use a profile saved from this very machine (the same
    fingerprint: CPU model, cores, GPU, torch; and the same layout), never one measured elsewhere,
    whatever the host's name."""
    from duolab.measure import profile_store as store

    saved = LatencyProfile.load(PROFILES / "cpu-2core.json")
    here = {"cpu": "Some CPU @ 2.0GHz", "cores": 2, "gpu": "none", "torch": "2.13.0+cpu"}
    replace(saved, notes={**saved.notes, "fingerprint": here}).save(tmp_path / "profiles" / "saved.json")
    monkeypatch.setattr(store, "DATA_DIR", tmp_path)
    pair = SimpleNamespace(target_source=str(REPO_DIR / "data" / "models" / "target"),
                           draft_source=str(REPO_DIR / "data" / "models" / "draft"),
                           target_device=torch.device("cpu"), draft_runner="fast",
                           target_runner="transformers", layout=saved.notes["layout"])  # compared as text
    monkeypatch.setattr(store, "machine_fingerprint", lambda: dict(here))
    assert store._saved_here(pair).notes["fingerprint"] == here
    for other in ({"cores": 16}, {"gpu": "NVIDIA H100"}, {"cpu": "Other CPU"}, {"torch": "2.11.0"}):
        monkeypatch.setattr(store, "machine_fingerprint", lambda o=other: {**here, **o})
        assert store._saved_here(pair) is None, other
