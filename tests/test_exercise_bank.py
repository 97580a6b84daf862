"""Every exercise check against the answers students give: the wrong ones must be rejected, the
right ones accepted in every stated form (a rounding, a name's case).

Each bank entry is computed from the package or the data, as a student would get it by taking a
wrong turn: off by one, the reciprocal, the wrong column, task or profile, a rounding outside the
stated decimals, a verifier with a break. `python -m tests.test_exercise_bank` prints the bank's
size and verdicts per exercise.
"""

import functools

import pandas as pd
import pytest

from duolab.lab import exercises as ex
from duolab.lab import from_scratch
from duolab.latency_profile import LatencyProfile, measured_profiles
from duolab.paths import DATA_DIR


def profile(name):
    return LatencyProfile.load(DATA_DIR / "profiles" / name)


@functools.cache
def sps_tau(budget, tokens=ex.SPS_TAU_TOKENS):
    from duolab.generation import generate
    from duolab.prompts import load_prompts

    g = generate(ex.shipped_pair(), load_prompts("math_reasoning", 1)[0], method="sps", budget=budget,
                 max_new_tokens=tokens)
    return g.stats["new_tokens"] / g.stats["target_forwards"]


def fair():
    return pd.read_csv(DATA_DIR / "results" / "methods_fair.csv").set_index("task").drop("median")


def slopes():
    return {n: p.target_ms(9) / p.target_ms(1) for n, p in measured_profiles().items()}


def in_band_count():
    from duolab.predict.regime import BAND, regime_point

    return sum(BAND[0] <= regime_point(p)[0] < BAND[1] for p in measured_profiles().values())


def regime(alpha, slope, cost=0.25):
    from duolab.predict.regime import duo_over_sps, synthetic_profile

    return duo_over_sps(synthetic_profile(profile("cpu-2core.json"), cost, slope), alpha, runs=4)["duo_over_sps"]


def quality():
    return pd.read_csv(DATA_DIR / "results" / "real_pair_quality.csv")


def expected(alpha, gamma):
    from duolab.methods.round_policy import expected_accepted

    return expected_accepted(alpha, gamma)


def cpu_ratio(n, d):
    return profile("cpu-2core.json").target_ms(n) / profile("cpu-2core.json").target_ms(d)


def td_ratio(p):
    return p.draft_ms_per_token / p.target_ms(1)


def equal_time(p):
    from duolab.predict.budget import equal_time_budget

    return equal_time_budget(p)


def reference() -> str:
    import json

    return json.loads((DATA_DIR / "prompts" / "math_reasoning.jsonl").read_text().splitlines()[0])["reference"]


def sps_ideal():
    from duolab.predict.budget import sps_ideal_speedup

    return sps_ideal_speedup(profile("cpu-2core.json"), 0.8, cap=16)[1]


def draw(probs, generator):
    """notebook 01's draw"""
    import torch

    return int(probs.argmax()) if probs.max() >= 1 else int(torch.multinomial(probs, 1, generator=generator))


def student_verifier(accept, bonus_from_q=False):
    """notebook 01-1's template, with the accept test a student wrote (accept(i, p_d, q_d, coin))."""
    import torch

    def my_verify(p, q, drafts, generator):
        for i, d in enumerate(drafts):
            p_d, q_d = float(p[i, d]), float(q[i, d])
            if accept(i, p_d, q_d, lambda: float(torch.rand((), generator=generator))):
                continue
            residual = (p[i] - q[i]).clamp_min(0)
            return i, draw(residual / residual.sum(), generator)
        return len(drafts), draw(q[-1] if bonus_from_q else p[len(drafts)], generator)
    return my_verify


def ratio(i, p_d, q_d, coin):
    return coin() * q_d < p_d


STUDENT_BREAKS = {  # wrong answers to 01-1 that earlier checks accepted
    "no coin: p >= q": student_verifier(lambda i, p_d, q_d, coin: p_d >= q_d),
    "p > 0": student_verifier(lambda i, p_d, q_d, coin: p_d > 0),
    "ratio test at position 0 only": student_verifier(lambda i, p_d, q_d, coin: i > 0 or ratio(i, p_d, q_d, coin)),
}


def broken(name):
    return from_scratch.BROKEN_VERIFIERS[name]


# exercise -> (wrong answers, right answers); each answer is a function that computes it.
BANK = {
    "00-1": ([lambda: round(sps_tau(ex.SPS_TAU_BUDGET - 1), 2), lambda: round(sps_tau(ex.SPS_TAU_BUDGET + 1), 2),
              lambda: round(sps_tau(ex.SPS_TAU_BUDGET + 2), 2), lambda: round(sps_tau(ex.SPS_TAU_BUDGET, 32), 2),
              lambda: round(1 / ex.sps_tau(), 2), lambda: round(ex.sps_tau() + 0.02, 2)],
             [lambda: ex.sps_tau(), lambda: round(ex.sps_tau(), 2), lambda: round(ex.sps_tau(), 3)]),
    "00-2": ([lambda: ex.final_number(reference()), lambda: ex.targets_answer() + 1,
              lambda: ex.targets_answer() - 1, lambda: True, lambda: str(ex.targets_answer()) + "!"],
             [lambda: ex.targets_answer(), lambda: float(ex.targets_answer())]),
    "00-3": ([lambda: ex.pld_tokens_equal_to_ar() - 1, lambda: 0, lambda: 16, lambda: 33],
             [lambda: ex.pld_tokens_equal_to_ar()]),
    "01-1": ([lambda name=name: broken(name) for name in from_scratch.BROKEN_VERIFIERS]
             + [lambda name=name: STUDENT_BREAKS[name] for name in STUDENT_BREAKS] + [lambda: 3],
             [lambda: from_scratch.package_verifier, lambda: from_scratch.coin_always,
              lambda: student_verifier(ratio)]),
    "01-2": ([lambda: round(expected(0.8, 3), 2), lambda: round(expected(0.8, 5), 2),
              lambda: round(expected(0.8, 4) - 1, 2), lambda: round(1 / expected(0.8, 4), 2), lambda: 5.0,
              lambda: 3.4],
             [lambda: expected(0.8, 4), lambda: round(expected(0.8, 4), 2), lambda: round(expected(0.8, 4), 4)]),
    "01-3": ([lambda: from_scratch.package_verifier, lambda: student_verifier(ratio), lambda: broken("accept always"),
              lambda: broken("no residual"), lambda: (lambda p, q, drafts, generator: (0, 0)), lambda: "no residual"],
             [lambda: broken("bonus from q"), lambda: student_verifier(ratio, bonus_from_q=True)]),
    "02-1": ([lambda: round(cpu_ratio(9, 1), 2), lambda: round(cpu_ratio(1, 8), 2), lambda: 8,
              lambda: round(cpu_ratio(8, 1), 2) + 0.01, lambda: round(cpu_ratio(7, 1), 2)],
             [lambda: cpu_ratio(8, 1), lambda: round(cpu_ratio(8, 1), 2), lambda: round(cpu_ratio(8, 1), 3)]),
    "02-2": ([lambda: round(1 / td_ratio(profile("cpu-2core.json")), 3),
              lambda: round(profile("cpu-2core.json").sps_draft_ms_per_token / profile("cpu-2core.json").target_ms(1), 3),
              lambda: round(td_ratio(profile("cpu-2core.json")), 2) - 0.0, lambda: round(td_ratio(profile("h100-fp32.json")), 3),
              lambda: round(profile("cpu-2core.json").draft_ms(1) / profile("cpu-2core.json").target_ms(1), 3)],
             [lambda: td_ratio(profile("cpu-2core.json")), lambda: round(td_ratio(profile("cpu-2core.json")), 3)]),
    "02-3": ([lambda: max(slopes(), key=slopes().get), lambda: "h100-fp32", lambda: "cpu-2core", lambda: "h100"],
             [lambda: min(slopes(), key=slopes().get), lambda: min(slopes(), key=slopes().get).upper(),
              lambda: " " + min(slopes(), key=slopes().get) + " "]),
    "03-1": ([lambda: sps_ideal() - 1, lambda: sps_ideal() + 1, lambda: 16, lambda: 1],
             [lambda: sps_ideal()]),
    "03-2": ([lambda: equal_time(profile("h100-fp32.json")) - 1, lambda: equal_time(profile("h100-fp32.json")) + 1,
              lambda: equal_time(profile("cpu-2core.json")), lambda: 24, lambda: True],
             [lambda: equal_time(profile("h100-fp32.json"))]),
    "04-1": ([lambda: (10, 5), lambda: (1, 7), lambda: (7, 11), lambda: (11, 5), lambda: 11],
             [lambda: (11, 7), lambda: [11, 7]]),
    "04-2": ([lambda: 0.7, lambda: 0.8, lambda: 0.216, lambda: 0.9 * 0.8, lambda: 0.5],
             [lambda: 0.9 * 0.8 * 0.7, lambda: 0.504]),
    "05-1": ([lambda: fair()["duo / sps best"].idxmax(), lambda: (fair()["duo paper schedule speedup"]
                                                                  / fair()["sps best γ speedup"]).idxmin(),
              lambda: fair()["duo (default) speedup"].idxmin(), lambda: fair()["duo ttft / sps best"].idxmin()],
             [lambda: fair()["duo / sps best"].idxmin(), lambda: fair()["duo / sps best"].idxmin().upper()]),
    "05-2": ([lambda: round(1 / ex._fair("duo ttft / sps best")["median"], 2),
              lambda: round(fair()["duo ttft / sps best"].mean(), 2), lambda: round(ex._fair("duo / sps best")["median"], 2),
              lambda: round(ex._fair("duo ttft / sps best")["median"], 1)],
             [lambda: ex._fair("duo ttft / sps best")["median"], lambda: round(ex._fair("duo ttft / sps best")["median"], 2)]),
    "06-1": ([lambda: in_band_count() - 1, lambda: in_band_count() + 1, lambda: len(measured_profiles()), lambda: False],
             [lambda: in_band_count()]),
    "06-2": ([lambda: round(1 / ex.regime_cell(), 2), lambda: round(regime(0.9, 2.0), 2),
              lambda: round(regime(0.7, 1.0), 2), lambda: True, lambda: round(ex.regime_cell(), 1)],
             [lambda: ex.regime_cell(), lambda: round(ex.regime_cell(), 2)]),
    "07-1": ([lambda: int((quality().agreement > 0.55).sum()), lambda: int((quality().agreement < 0.5).sum()),
              lambda: len(quality()), lambda: int((quality().agreement >= 0.5).sum()) - 1],
             [lambda: int((quality().agreement >= 0.5).sum())]),
    "07-2": ([lambda: ex._chat_overhead() - 1, lambda: ex._chat_overhead() + 1, lambda: 0, lambda: str(ex._chat_overhead())],
             [lambda: ex._chat_overhead()]),
}


def verdict(exercise, answer) -> bool:
    ex.check(exercise, answer)
    return ex.RESULTS[exercise]


def test_every_exercise_has_a_bank():
    assert sorted(BANK) == sorted(ex.EXERCISES)
    assert all(len(wrong) >= 3 and right for wrong, right in BANK.values())


@pytest.mark.parametrize("exercise", sorted(BANK))
def test_wrong_answers_rejected_right_ones_accepted(exercise):
    wrong, right = BANK[exercise]
    accepted = [k for k, make in enumerate(wrong) if verdict(exercise, make())]
    rejected = [k for k, make in enumerate(right) if not verdict(exercise, make())]
    assert not accepted, f"{exercise}: wrong answers {accepted} of the bank accepted"
    assert not rejected, f"{exercise}: right answers {rejected} rejected"


if __name__ == "__main__":  # the bank's size and verdicts per exercise
    rows = []
    for exercise, (wrong, right) in sorted(BANK.items()):
        rows.append({"exercise": exercise, "wrong answers": len(wrong),
                     "wrong accepted": sum(verdict(exercise, make()) for make in wrong),
                     "right answers": len(right), "right rejected": sum(not verdict(exercise, make()) for make in right)})
    print(pd.DataFrame(rows).to_string(index=False))
