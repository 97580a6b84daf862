"""The analyses behind the scripts (duolab.lab.outcome_study, duo_bounds, duo_report, regime_check,
recommend_check, soak; duolab.measure.runner_speed, channel_cost), on the toy pair and synthetic
tables: cheap runs that check what each returns, not the numbers a full run records."""

from pathlib import Path

import pandas as pd

from duolab import generate, load_pair
from duolab.lab.duo_bounds import REPORT_COLUMNS, bounds_report, bounds_table, saved_profiles
from duolab.lab.duo_report import duo_report_text
from duolab.lab.outcome_study import (
    GATE,
    GUESSES,
    TOP_K,
    WORKERS,
    coverage,
    gate_medians,
    gate_report,
    gate_table,
)
from duolab.lab.recommend_check import within_tolerance as picks_within
from duolab.lab.regime_check import within_tolerance as points_within
from duolab.lab.soak import close_and_check, soak, soak_summary
from duolab.latency_profile import Workload
from duolab.measure.channel_cost import PAYLOAD, pipe_round_trip
from duolab.measure.runner_speed import compare_runners, load_draft
from duolab.methods.worker import process_alive
from tests.test_budget import synthetic


def test_coverage_shares_grow_with_k_and_count_the_rejections(toy_pair):
    prompts = ["def f(x):", "Question: what is 2 + 3?"]
    row = coverage(toy_pair, prompts, 12)
    shares = [row[f"top {k}"] for k in TOP_K]
    assert 0 <= row["agreement"] <= 1 and row["rejections"] >= 0
    assert shares == sorted(shares) and all(0 <= s <= 1 for s in shares)
    positions = sum(len(generate(toy_pair, p, max_new_tokens=12).token_ids) for p in prompts)
    assert round((1 - row["agreement"]) * positions) == row["rejections"]


def _gate_inputs(tmp_path: Path):
    paths = {}
    for name, draft_ms in (("h100-a", 0.5), ("cpu", 2.0)):
        paths[name] = tmp_path / f"{name}.json"
        synthetic(target_ms=10.0, draft_ms=draft_ms, sps_draft_ms=3.0).save(paths[name])
    agreement = [[True, True, False, True, True, True, False, True] * 4]
    work = {task: Workload(alpha=0.75, shapes=[(16, 32)], max_new_tokens=32, agreement=agreement)
            for task in ("qa", "rag")}
    coverage = {task: {f: min(1.0, 0.2 + 0.1 * f) for f in GUESSES} for task in work}
    return work, coverage, paths


def test_gate_table_has_a_row_per_profile_task_chain_length_and_worker_count(tmp_path):
    work, coverage, paths = _gate_inputs(tmp_path)
    table = gate_table(work, coverage, 0.1, paths, chain_lengths=(0, 8))
    assert len(table) == len(paths) * len(work) * 2 * len(WORKERS)
    assert set(table.chain_length) == {"duo's", 8}
    # SpS drafts at the cheaper of the two draft costs, so t_m follows the profile's t_d
    assert sorted(table.t_m_ms.unique()) == [0.05, 0.2]
    medians = gate_medians(table)
    assert set(medians.index.get_level_values("profile")) == {"h100-a"}
    text = gate_report(table)
    assert text.count("simulated duo / SpS (best γ)") == len(paths)
    assert f"gate: median duo / SpS >= {GATE}" in text.splitlines()[-1]


def test_bounds_table_and_report_per_task_and_profile(toy_pair):
    profiles = saved_profiles(["cpu-2core.json"])
    table = bounds_table(toy_pair, profiles, 1, 8, 0.25, tasks=("qa", "rag"))
    assert list(table.task) == ["qa", "rag"] and set(REPORT_COLUMNS) <= set(table.columns)
    text = bounds_report(table, 0.25)
    assert "cpu-2core.json: simulated speedup over AR" in text and "median duo / sps: {" in text


def test_duo_report_text_counts_the_ratios_within_15_percent():
    table = pd.DataFrame({"task": ["qa"], "duo predicted/measured tokens/s": [1.1],
                          "duo predicted/measured speedup": [0.5]})
    lines = duo_report_text(table).splitlines()
    assert lines[0] == "" and lines[1].startswith("duo per task:")
    assert lines[-2:] == ["simulator within 15% of measured tokens/s on 100% of 1 points",
                          "simulator within 15% of measured speedup on 0% of 1 points"]


def test_tolerance_counts():
    assert points_within(pd.DataFrame({"error": [0.1, -0.15, 0.2, -0.3]})) == 2
    # a gap that is not a number is no failure (as the script has always counted it)
    assert picks_within(pd.DataFrame({"gap": [0.0, 0.05, 0.06, float("nan")]})) == 3


def test_soak_samples_the_worker_and_close_stops_it(toy_paths):
    pair = load_pair(*toy_paths)
    try:
        table = soak(pair, ["def f(x):", "Question: 1 + 1?"], generations=3, warmup=2, max_new_tokens=6)
        assert list(table.generation) == [2] and table.worker_pid.iloc[0] > 0
        assert "worker pids seen: [" in soak_summary(table, 2)
        alive, _ = close_and_check(pair)
        assert not alive and not process_alive(int(table.worker_pid.iloc[0]))
    finally:
        pair.close()


def test_runner_speed_times_both_runners_on_the_stand_in(tmp_path):
    model, source = load_draft(tmp_path / "absent")
    assert source.startswith("random llama")
    med = compare_runners(model, prefill=8, tokens=3, repeats=1)
    assert set(med) == {"transformers", "FastLlama"}
    assert all(len(v) == 2 and v[0] > 0 for v in med.values())


def test_pipe_round_trip_is_positive():
    assert 0 < pipe_round_trip(PAYLOAD, None, repeats=5) < 5.0


def test_a_typical_round_is_the_median_rounds_events():
    from duolab.lab.duo_report import typical_round

    rows = [("target", "prefill", 0.0, 0.5, 0)]
    for r, length in ((1, 0.010), (2, 0.030), (3, 0.020)):
        t = r * 1.0
        rows += [("target", "retrieve", t, t + 0.001, r), ("target", "forward", t + 0.001, t + length, r),
                 ("draft", "draft", t + 0.002, t + 0.004, r)]
    r, events = typical_round(pd.DataFrame(rows, columns=["side", "kind", "start_s", "end_s", "round"]))
    assert r == 3 and list(events.kind) == ["retrieve", "forward", "draft"]
    assert events.ms.round(3).tolist() == [1.0, 19.0, 2.0] and events.start_ms.round(3).tolist() == [0.0, 1.0, 2.0]
