"""duolab.recommend: its pick is the best of its own predictions, the correction for the
simulator's duo is what flips the H100 host to SpS, and bad input fails before any work."""

import pytest

import duolab
from duolab.latency_profile import LatencyProfile
from duolab.paths import DATA_DIR
from duolab.timing.recommendation import duo_prediction_error

TASKS = ("mt_bench", "translation", "humaneval")
H100 = DATA_DIR / "profiles" / "h100-fp32.json"


def quick(pair, **kw):
    return duolab.recommend(pair, LatencyProfile.load(H100), tasks=TASKS, prompts_per_task=1,
                            max_new_tokens=32, budgets=(2, 4, 8), **kw)


def test_pick_is_the_best_prediction_and_the_duo_correction_can_flip_it(default_pair):
    raw = quick(default_pair, duo_error=1.0)
    median = raw.table.loc["median"]
    assert list(raw.table.index) == [*TASKS, "median"]
    assert raw.sps_speedup == pytest.approx(max(median[f"sps γ={b}"] for b in (2, 4, 8)))
    assert raw.duo_speedup == pytest.approx(median["duo"])
    assert raw.method == ("duo" if raw.duo_speedup > raw.sps_speedup else "sps")
    # a correction large enough always leaves duo behind; the SpS side does not move
    harsh = quick(default_pair, duo_error=raw.duo_speedup / raw.sps_speedup * 1.5)
    assert (harsh.method, harsh.budget) == ("sps", raw.sps_budget)
    assert harsh.sps_speedup == pytest.approx(raw.sps_speedup)
    assert harsh.kwargs == {"method": "sps", "budget": raw.sps_budget}
    assert "use sps with budget=" in str(harsh)


def test_duo_prediction_error_reads_the_fair_run(tmp_path):
    assert duo_prediction_error(tmp_path) == 1.0  # no run there
    (tmp_path / "methods_duo.csv").write_text("task,duo predicted/measured speedup\na,1.2\nb,1.0\nc,1.1\n")
    assert duo_prediction_error(tmp_path) == pytest.approx(1.1)


@pytest.mark.parametrize("kw, message", [
    ({"budgets": (0, 2)}, "budgets must be integers >= 1"),
    ({"budgets": ()}, "budgets must be integers >= 1"),
    ({"tasks": ()}, "at least one task"),
    ({"tasks": ("poetry",)}, "unknown task 'poetry'"),
    ({"prompts_per_task": 0}, "prompts_per_task must be >= 1"),
    ({"duo_error": 0}, "duo_error must be > 0"),
    ({"duo_error": "1.1"}, "duo_error must be > 0"),
    ({"budgets": (True, 2)}, "budgets must be integers >= 1"),
])
def test_bad_input_is_refused(default_pair, kw, message):
    with pytest.raises(ValueError, match=message):
        duolab.recommend(default_pair, LatencyProfile.load(H100), **kw)
