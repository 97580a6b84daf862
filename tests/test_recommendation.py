"""duolab.recommend: every method is a candidate (AR, SpS at each budget, PLD from replayed
prompt lookups, duo; hf listed as not predicted), its pick is the best of its own predictions and
names the runner-up; duo's correction is fitted without the run it is checked on; PLD's replay
counts what prompt lookup would have proposed; bad input fails before any work."""

import pandas as pd
import pytest

import duolab
from duolab.latency_profile import LatencyProfile, Workload
from duolab.measure.profiling import prompt_lookups
from duolab.paths import DATA_DIR
from duolab.predict.budget import predicted_tokens_per_s
from duolab.predict.recommendation import (
    RETRIEVAL_CAPS,
    Recommendation,
    duo_prediction_error,
    method_of,
    pick,
)
from duolab.predict.simulate import simulate

TASKS = ("mt_bench", "translation", "humaneval")
H100 = DATA_DIR / "profiles" / "h100-fp32.json"
CPU = DATA_DIR / "profiles" / "cpu-2core.json"


def quick(pair, **kw):
    return duolab.recommend(pair, LatencyProfile.load(H100), tasks=TASKS, prompts_per_task=1,
                            max_new_tokens=32, budgets=(2, 4, 8), **kw)


def test_every_method_is_a_candidate_and_the_pick_is_the_best_prediction(default_pair):
    rec = quick(default_pair, duo_error=1.0)
    median = rec.table.loc["median"]
    assert list(rec.table.index) == [*TASKS, "median"]
    retrieval = {f"sps+retrieval γ={b}, retrieval={r}" for b in (2, 4, 8) for r in RETRIEVAL_CAPS}
    retrieval |= {f"duo+retrieval, retrieval={r}" for r in RETRIEVAL_CAPS}
    assert set(rec.table.columns) == {"ar", "duo", *(f"{m} γ={b}" for m in ("sps", "pld") for b in (2, 4, 8)),
                                      *retrieval}
    assert median["ar"] == 1.0
    assert rec.setting == median.idxmax() and rec.speedup == pytest.approx(median.max())
    assert method_of(rec.runner_up) != rec.method  # the best of another method
    assert rec.margin == pytest.approx(median.max() / median[rec.runner_up]) and rec.margin >= 1
    assert "hf" in rec.not_predicted and "not predicted" in str(rec)
    described = rec.runner_up.replace(" γ=", " with budget=").replace("sps+retrieval", "sps")
    assert f"runner-up {described.replace('duo+retrieval,', 'duo with budget=' + repr('auto') + ',')}" in str(rec)


def test_a_retrieval_setting_says_what_to_pass_to_generate():
    table = pd.DataFrame({"ar": [1.0], "sps γ=3": [1.1], "sps+retrieval γ=3, retrieval=8": [1.3], "duo": [1.0],
                          "duo+retrieval, retrieval=4": [1.2]}, index=["median"])
    best, runner_up = pick(table)
    assert (best, runner_up) == ("sps+retrieval γ=3, retrieval=8", "duo+retrieval, retrieval=4")
    rec = Recommendation(best, runner_up, table, 1.0, "given", 0.5, "here")
    assert rec.kwargs == {"method": "sps", "budget": 3, "retrieval": 8}
    rec = Recommendation(runner_up, best, table, 1.0, "given", 0.5, "here")
    assert rec.kwargs == {"method": "duo", "budget": "auto", "retrieval": 4}
    assert str(rec).startswith("use duo with budget='auto', retrieval=4: predicted 1.20x AR")


def test_the_duo_correction_can_flip_the_pick(default_pair):
    raw = quick(default_pair, duo_error=1.0)
    best_other = max(v for c, v in raw.table.loc["median"].items() if method_of(c) != "duo")
    harsh = quick(default_pair, duo_error=raw.duo_speedup / best_other * 1.5)
    assert harsh.method != "duo"
    assert harsh.sps_speedup == pytest.approx(raw.sps_speedup)  # the other settings do not move
    generous = quick(default_pair, duo_error=raw.duo_speedup / best_other / 1.5)
    assert (generous.method, generous.budget) == ("duo", "auto")
    assert generous.kwargs == {"method": "duo", "budget": "auto", **({"retrieval": generous.retrieval}
                                                                     if generous.retrieval else {})}


def test_ar_wins_where_nothing_drafts_well():
    """A made-up table where every drafting setting loses: the pick is plain AR, and it says so."""
    import pandas as pd

    table = pd.DataFrame({"ar": [1.0, 1.0], "sps γ=2": [0.9, 0.8], "pld γ=8": [0.95, 0.97], "duo": [0.7, 0.9]},
                         index=["a", "b"])
    table.loc["median"] = table.median()
    assert pick(table) == ("ar", "pld γ=8")


def test_duo_correction_is_fitted_without_the_left_out_run(tmp_path):
    runs = {name: tmp_path / name for name in ("a", "b", "c")}
    assert duo_prediction_error(runs) == (1.0, "no calibration run")
    for path, ratios in zip(runs.values(), ([1.2, 1.0], [1.1], [2.0, 2.0]), strict=True):
        path.mkdir()
        (path / "methods_duo.csv").write_text("task,duo predicted/measured speedup\n"
                                              + "".join(f"t{i},{r}\n" for i, r in enumerate(ratios)))
    assert duo_prediction_error(runs) == (pytest.approx(1.2), "runs a, b, c")
    assert duo_prediction_error(runs, leave_out="c") == (pytest.approx(1.1), "runs a, b")


def test_prompt_lookups_record_what_pld_proposes_and_how_much_matches():
    prompt = [5, 6, 7, 8, 9, 5, 6]
    # after "5 6" PLD copies "7 8 9 5 6 ..." from the prompt; the output follows it for 3 tokens
    lookups = prompt_lookups(prompt, [7, 8, 9, 1], cap=4)
    assert lookups[0] == (4, 3)  # proposes 7 8 9 5, matched 7 8 9
    assert lookups[3] == (4, 0)  # after "... 9": copies "5 6 7 8", output says 1
    assert prompt_lookups([1, 2, 3], [4]) == [(0, 0)]  # no n-gram of the context repeats


def test_pld_replay_counts_forwards_as_the_lookups_say():
    profile = LatencyProfile.load(CPU)
    lookups = [(4, 4), (4, 4), (4, 4), (4, 4), (4, 4), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)]
    s = simulate(profile, "pld", 0.0, budget=4, new_tokens=10, lookups=lookups).stats
    assert s["target_forwards"] == 1 + 5  # 5 tokens in the first round, then one per forward
    free = simulate(profile, "pld", 0.0, budget=8, new_tokens=40, lookups=[(8, 8)] * 40).stats
    assert free["target_forwards"] == 5  # 9 tokens per round
    work = Workload(0.0, [(16, 10)], 10, [[False] * 10], lookups=[lookups])
    assert predicted_tokens_per_s(profile, work, "pld", 4) > predicted_tokens_per_s(profile, work, "ar", 1)
    with pytest.raises(ValueError, match="needs a workload with lookups"):
        predicted_tokens_per_s(profile, Workload(0.5, [(16, 10)], 10), "pld", 4)
    with pytest.raises(ValueError, match="simulating pld needs lookups"):
        simulate(profile, "pld", 0.5)


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
