"""The benchmark's tables. The fair table: SpS's best budget per task is chosen among the
pair's-runner SpS labels only; the paper's GPU-draft SpS and the slow-drafter ablation never stand
in for it. The round-robin calls its after-task hook (where the run profile is measured) once per task."""

import pandas as pd
import pytest

from duolab.lab.bench import GPU_DRAFT_SPS, SLOW_SPS, fair_table, run_benchmark


def summary_of(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    """{task: {label: speedup}} -> a summary with tokens/s proportional to the speedup."""
    out = []
    for task, speeds in rows.items():
        for label, speedup in speeds.items():
            method = label.split(":")[0] if not label.startswith(("sps,", GPU_DRAFT_SPS)) else "sps"
            out.append({"task": task, "label": label, "method": method, "speedup": speedup,
                        "tokens_per_s": 100 * speedup, "ttft_ms": 10 / speedup})
    return pd.DataFrame(out)


def test_fair_table_picks_the_best_fair_sps_and_reports_the_gpu_draft_baseline_apart():
    summary = summary_of({
        "qa": {"ar": 1.0, "sps:budget=2": 1.4, "sps:budget=4": 1.6, "duo": 1.2, SLOW_SPS: 2.5,
               f"{GPU_DRAFT_SPS}:budget=2": 0.8, f"{GPU_DRAFT_SPS}:budget=4": 3.0},
        "rag": {"ar": 1.0, "sps:budget=2": 1.5, "sps:budget=4": 1.1, "duo": 1.8, SLOW_SPS: 1.0,
                f"{GPU_DRAFT_SPS}:budget=2": 0.9, f"{GPU_DRAFT_SPS}:budget=4": 0.6},
    })
    table = fair_table(summary).set_index("task")
    assert table.loc["qa", "sps_best_budget"] == 4 and table.loc["rag", "sps_best_budget"] == 2
    assert table.loc["qa", "sps best γ speedup"] == pytest.approx(1.6)
    assert table.loc["qa", "duo / sps best"] == pytest.approx(1.2 / 1.6)
    assert table.loc["rag", "duo / sps best"] == pytest.approx(1.8 / 1.5)
    assert list(table[f"{GPU_DRAFT_SPS} best γ"].iloc[:2]) == [4, 2]
    assert table.loc["rag", f"duo / {GPU_DRAFT_SPS}"] == pytest.approx(1.8 / 0.9)
    assert table.loc["median", "duo / sps best"] == pytest.approx((1.2 / 1.6 + 1.8 / 1.5) / 2)


def test_fair_table_without_a_gpu_run_has_no_gpu_columns():
    table = fair_table(summary_of({"qa": {"ar": 1.0, "sps:budget=3": 1.3, "duo": 1.1}}))
    assert not [c for c in table if GPU_DRAFT_SPS in c]
    assert table.loc[0, "duo ttft / sps best"] == pytest.approx((10 / 1.1) / (10 / 1.3))


def test_round_robin_calls_after_task_once_per_task_in_order(toy_pair):
    seen = []
    methods = {"ar": {"method": "ar"}, "sps:budget=2": {"method": "sps", "budget": 2}}
    raw = run_benchmark(toy_pair, methods, ["qa", "rag"], n_prompts=2, max_new_tokens=3, repeats=2,
                        progress=False, after_task=seen.append)
    assert seen == ["qa", "rag"]
    assert len(raw) == 2 * 2 * 2 * 2 and raw.matches_ar.all()


@pytest.mark.parametrize("run", ["methods", "real_pair/methods", "slowdraft/methods", "gpu/methods"])
def test_figures_plot_the_tables_numbers(run):
    """One aggregation: the committed fair table is what its raw run gives (ratio of total times
    per task, median over tasks), and notebook 05's bars are that table's numbers, to 3 digits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from duolab.lab.bench import per_prompt_table, relative_to, summarize
    from duolab.lab.plots import FIGURE_METHODS, bar_heights, plot_fair_bars
    from duolab.paths import DATA_DIR

    raw = pd.read_csv(DATA_DIR / "results" / f"{run}_raw.csv")
    committed = pd.read_csv(DATA_DIR / "results" / f"{run}_fair.csv").set_index("task")
    recomputed = fair_table(relative_to(summarize(raw), "ar")).set_index("task")
    speedups = [c for c in committed if c.endswith("speedup") or c.startswith("duo /")]
    pd.testing.assert_frame_equal(recomputed[speedups].loc[committed.index], committed[speedups],
                                  check_exact=False, atol=5e-4, check_dtype=False)
    for value in ("speedup", "ttft_ms"):
        ax = plot_fair_bars(committed.reset_index(), value, {"ar": "ar", **FIGURE_METHODS},
                            per_prompt=per_prompt_table(raw, committed.reset_index()))
        shown = bar_heights(ax)
        plt.close(ax.figure)
        for name, legend_name in {"ar": "ar", **FIGURE_METHODS}.items():
            if f"{name} {value}" in committed:
                table = committed.drop("median")[f"{name} {value}"]
                assert (shown[legend_name].round(3) == table.round(3)).all(), (run, name, value)
