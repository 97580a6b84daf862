"""Exercises that check themselves: `check("03-1", answer)` says right or not yet, with a hint.

Each notebook ends with a recap and 2-4 exercises. An exercise cell holds a placeholder answer and
a `check` call; the answers live in notebooks/solutions/ (one file per notebook), and
tests/test_exercises.py runs every exercise cell twice: as committed (every check must reject its
placeholder) and with the solution in place (every check must pass). Every checker works out the
right answer itself, from the package, the shipped pair or the committed data: nothing here is a
stored number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from duolab.arguments import is_number
from duolab.paths import DATA_DIR

RESULTS: dict[str, bool] = {}  # exercise id -> the last check's verdict (read by the test)
_PAIR = []


def shipped_pair():
    """The shipped pair, loaded once for the checkers (no draft worker: they never run duo)."""
    if not _PAIR:
        from duolab.models import load_pair

        _PAIR.append(load_pair())
    return _PAIR[0]


@dataclass(frozen=True)
class Exercise:
    checker: Callable  # answer -> (right, what to say)
    hint: str


def _number(answer, truth: float, rel: float = 0.01, what: str = "") -> tuple[bool, str]:
    if not is_number(answer):
        return False, f"expected a number, got {answer!r}"
    ok = math.isclose(float(answer), truth, rel_tol=rel, abs_tol=1e-9)
    return ok, f"{what}{truth:.4g}" if ok else f"{answer!r} is not it"


def _equal(answer, truth, what: str = "") -> tuple[bool, str]:
    return (answer == truth), (f"{what}{truth!r}" if answer == truth else f"{answer!r} is not it")


def _profile(name: str):
    from duolab.latency_profile import LatencyProfile

    return LatencyProfile.load(DATA_DIR / "profiles" / name)


# --- notebook 00 ---------------------------------------------------------------------------

def _tau_of_sps(answer):
    from duolab.generation import generate
    from duolab.prompts import load_prompts

    g = generate(shipped_pair(), load_prompts("math_reasoning", 1)[0], method="sps", budget=4,
                        max_new_tokens=32)
    return _number(answer, g.stats["new_tokens"] / g.stats["target_forwards"], 0.001, "τ = ")


def _final_number(text: str) -> str | None:
    found = re.findall(r"answer is\s*(-?\d+)", text) or re.findall(r"-?\d+", text)
    return found[-1] if found else None


def _target_is_right(answer):
    import json

    from duolab.generation import generate

    row = json.loads((DATA_DIR / "prompts" / "math_reasoning.jsonl").read_text().splitlines()[0])
    g = generate(shipped_pair(), row["prompt"], method="ar", max_new_tokens=128)
    truth = _final_number(g.text) == _final_number(row["reference"])
    if not isinstance(answer, bool):
        return False, f"expected True or False, got {answer!r}"
    return answer == truth, (f"the target says {_final_number(g.text)}, the reference "
                             f"{_final_number(row['reference'])}: lossless copies the target, right or wrong")


def _same_as_ar(answer):
    from duolab.generation import generate
    from duolab.prompts import load_prompts

    prompt = load_prompts("math_reasoning", 1)[0]
    ar, pld = (generate(shipped_pair(), prompt, method=m, max_new_tokens=32).token_ids for m in ("ar", "pld"))
    truth = sum(a == b for a, b in zip(ar, pld, strict=True))
    return _equal(answer, truth, "tokens equal to ar's: ")


# --- notebook 01 ---------------------------------------------------------------------------

def _round_for_tests():
    import torch

    from duolab.lab.from_scratch import one_round
    from duolab.prompts import load_prompts
    from duolab.sampling import SamplingConfig

    _, q, p = one_round(shipped_pair(), load_prompts("qa", 1)[0], 2, SamplingConfig(1.0, top_k=8),
                        torch.Generator().manual_seed(0))
    return p, q


def _completed_verifier(answer):
    from duolab.lab.from_scratch import first_token_test, same_tokens

    if not callable(answer):
        return False, f"expected a function verify(p, q, drafts, generator), got {answer!r}"
    p, q = _round_for_tests()
    try:
        share = same_tokens(answer, p, q, range(100))
        pvalue = first_token_test(answer, p, q, trials=3000)[2]
    except Exception as e:  # a half-written verifier: say what broke
        return False, f"calling it raised {type(e).__name__}: {e}"
    ok = share == 1.0 and pvalue > 1e-3
    return ok, f"same tokens as duolab's on {share:.0%} of 100 seeds; chi-square p = {pvalue:.3g}"


def _broken_verifier(answer):
    from duolab.lab.from_scratch import first_token_test

    if not callable(answer):
        return False, f"expected a function verify(p, q, drafts, generator), got {answer!r}"
    p, q = _round_for_tests()
    pvalue = first_token_test(answer, p, q, trials=3000)[2]
    if pvalue > 1e-3:
        return False, f"chi-square p = {pvalue:.3g}: this verifier still samples from the target"
    return True, f"chi-square p = {pvalue:.3g}: the test caught the break"


# --- notebooks 02-06 ---------------------------------------------------------------------------

def _sps_ideal_gamma(answer):
    from duolab.methods.round_policy import sps_ideal_speedup

    return _equal(answer, sps_ideal_speedup(_profile("cpu-2core.json"), 0.8, cap=16)[1], "γ = ")


def _equal_time_on_h100(answer):
    from duolab.timing.budget import equal_time_check

    return _equal(answer, equal_time_check(_profile("h100-fp32.json"))["has_solution"])


def _top_outcome(answer):
    from duolab.methods.round_policy import rank_outcomes

    truth = rank_outcomes([0.9, 0.6], [[(5, 0.08)], [(7, 0.3)]], start=10)[0]
    return _equal(tuple(answer) if isinstance(answer, list) else answer, truth, "(prefix, correction) = ")


def _fair(column: str) -> pd.Series:
    table = pd.read_csv(DATA_DIR / "results" / "methods_fair.csv").set_index("task")
    return table[column]


def _regime_cell(answer):
    from duolab.timing.regime import duo_over_sps, synthetic_profile

    ratio = duo_over_sps(synthetic_profile(_profile("cpu-2core.json"), 0.25, 1.0), 0.9, runs=4)["duo_over_sps"]
    if not isinstance(answer, bool):
        return False, f"expected True or False, got {answer!r}"
    return answer == (ratio > 1), f"duo / SpS's best = {ratio:.2f} there"


def _h100_in_band(answer):
    from duolab.timing.regime import BAND, regime_point

    ratio = regime_point(_profile("h100-fp32.json"))[0]
    if not isinstance(answer, bool):
        return False, f"expected True or False, got {answer!r}"
    return answer == (BAND[0] <= ratio < BAND[1]), f"t_d / T_t(1) = {ratio:.3f}, the band is {BAND}"


def _real_quality() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "results" / "real_pair_quality.csv")


def _chat_overhead() -> int:
    from transformers import AutoTokenizer

    from duolab.paths import REAL_DRAFT
    from duolab.prompts import load_prompts

    tok = AutoTokenizer.from_pretrained(str(REAL_DRAFT))
    text = load_prompts("mt_bench", 1)[0]
    chat = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)
    return len(tok.encode(chat)) - len(tok.encode(text))


EXERCISES: dict[str, Exercise] = {
    "00-1": Exercise(_tau_of_sps, "τ is new tokens per target forward: both are in g.stats"),
    "00-2": Exercise(_target_is_right, "read the target's last line and the reference's"),
    "00-3": Exercise(_same_as_ar, "generate 32 tokens with each and compare their token_ids position by position"),
    "01-1": Exercise(_completed_verifier, "accept d with probability min(1, p(d)/q(d)); on rejection draw "
                                          "from max(0, p - q), normalized; draw your numbers as `verify` does"),
    "01-2": Exercise(lambda a: _number(a, (1 - 0.8 ** 5) / (1 - 0.8), 0.001, "E = "),
                     "sum the chances of reaching each position: 1 + α + ... + α^γ"),
    "01-3": Exercise(_broken_verifier, "e.g. on a rejection, draw the correction from p instead of the residual"),
    "02-1": Exercise(lambda a: _number(a, _profile("cpu-2core.json").target_ms(8)
                                       / _profile("cpu-2core.json").target_ms(1), 0.01, "T_t(8) / T_t(1) = "),
                     "profile.target_ms(n) is T_t(n)"),
    "02-2": Exercise(lambda a: _number(a, _profile("cpu-2core.json").draft_ms_per_token
                                       / _profile("cpu-2core.json").target_ms(1), 0.01, "t_d / T_t(1) = "),
                     "t_d is profile.draft_ms_per_token"),
    "02-3": Exercise(lambda a: _equal(a, min(("cpu", "cpu-2core.json"), ("h100", "h100-fp32.json"), key=lambda x:
                                             _profile(x[1]).target_ms(9) / _profile(x[1]).target_ms(1))[0]),
                     "compare T_t(9) / T_t(1) of the two profiles; answer 'cpu' or 'h100'"),
    "03-1": Exercise(_sps_ideal_gamma, "maximize expected_accepted(α, γ) / (γ t_d + T_t(γ + 1)) over γ = 1..16"),
    "03-2": Exercise(_equal_time_on_h100, "budget.equal_time_check(profile)['has_solution']"),
    "04-1": Exercise(_top_outcome, "an outcome's chance: the chance of reaching its position times its q"),
    "04-2": Exercise(lambda a: _number(a, 0.9 * 0.8 * 0.7, 0.001, "P(whole block) = "),
                     "the block passes whole only if every token does"),
    "05-1": Exercise(lambda a: _equal(a, _fair("duo / sps best").drop("median").idxmax()),
                     "the column 'duo / sps best' of the fair table; answer a task name"),
    "05-2": Exercise(lambda a: _number(a, _fair("duo ttft / sps best")["median"], 0.01, "median = "),
                     "the column 'duo ttft / sps best', row 'median'"),
    "07-1": Exercise(lambda a: _number(a, int((_real_quality().agreement >= 0.5).sum()), 0.0, "tasks with α >= 0.5: "),
                     "count the rows of real_pair_quality.csv whose agreement is at least 0.5"),
    "07-2": Exercise(lambda a: _number(a, _chat_overhead(), 0.0, "tokens the template adds: "),
                     "len(tok.encode(chat text)) - len(tok.encode(plain text)), tok from data/real_pair/smollm2-draft"),
    "06-1": Exercise(_h100_in_band, "regime.regime_point(profile)[0] against regime.BAND"),
    "06-2": Exercise(_regime_cell, "regime.duo_over_sps(regime.synthetic_profile(base, 0.25, 1.0), 0.9, runs=4)"),
}


def check(exercise: str, answer) -> None:
    """Print whether `answer` solves `exercise` (an id such as "03-1"), with a hint when not; the
    verdict is kept in RESULTS."""
    if exercise not in EXERCISES:
        raise ValueError(f"unknown exercise {exercise!r}; known: {', '.join(EXERCISES)}")
    ex = EXERCISES[exercise]
    if answer is None or answer is Ellipsis:
        right, said = False, "replace the placeholder with your answer"
    else:
        right, said = ex.checker(answer)
    RESULTS[exercise] = right
    print(f"{exercise}: ✓ right. {said}" if right else f"{exercise}: ✗ not yet: {said}. Hint: {ex.hint}")
