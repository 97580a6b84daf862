"""Exercises that check themselves: `check("03-1", answer)` says right or not yet, with a hint.

Each notebook ends with a recap and 2-4 exercises. An exercise cell holds a placeholder answer and
a `check` call; the answers live in notebooks/solutions/ (one file per notebook), and
tests/test_exercises.py runs every exercise cell twice: as committed (every check must reject its
placeholder) and with the solution in place (every check must pass). Every checker works out the
right answer itself, from the package, the shipped pair or the committed data: nothing here is a
stored number.
"""

from __future__ import annotations

import functools
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


def _number(answer, truth: float, decimals: int, what: str = "") -> tuple[bool, str]:
    """Right when `answer` rounds like `truth` at the stated number of decimals (or is closer):
    |answer - truth| <= half a unit of the last stated decimal."""
    if isinstance(answer, bool) or not is_number(answer):
        return False, f"expected a number, got {answer!r}"
    ok = bool(abs(float(answer) - truth) <= 0.5 * 10 ** -decimals + 1e-12)
    return ok, f"{what}{truth:.{decimals}f}" if ok else f"{answer!r} is not it (to {decimals} decimals)"


def _whole(answer, truth: int, what: str = "") -> tuple[bool, str]:
    if isinstance(answer, bool) or not is_number(answer) or float(answer) != int(float(answer)):
        return False, f"expected a whole number, got {answer!r}"
    ok = bool(int(float(answer)) == truth)
    return ok, f"{what}{truth}" if ok else f"{answer!r} is not it"


def _name(answer, truth: str, what: str = "") -> tuple[bool, str]:
    """A name out of many (a task, a profile): case and surrounding spaces do not matter."""
    if not isinstance(answer, str):
        return False, f"expected a name (a string), got {answer!r}"
    ok = answer.strip().lower() == truth.lower()
    return ok, f"{what}{truth!r}" if ok else f"{answer!r} is not it"


def _profile(name: str):
    from duolab.latency_profile import LatencyProfile

    return LatencyProfile.load(DATA_DIR / "profiles" / name)


# --- notebook 00 ---------------------------------------------------------------------------

SPS_TAU_BUDGET, SPS_TAU_TOKENS = 2, 48  # exercise 00-1: budgets 1, 3 and 4 give another τ here


@functools.cache
def sps_tau() -> float:
    from duolab.generation import generate
    from duolab.prompts import load_prompts

    g = generate(shipped_pair(), load_prompts("math_reasoning", 1)[0], method="sps", budget=SPS_TAU_BUDGET,
                 max_new_tokens=SPS_TAU_TOKENS)
    return g.stats["new_tokens"] / g.stats["target_forwards"]


def final_number(text: str) -> int | None:
    """The number an answer ends on: after "answer is", else the last number in the text."""
    found = re.findall(r"answer is\s*(-?\d+)", text) or re.findall(r"-?\d+", text)
    return int(found[-1]) if found else None


@functools.cache
def targets_answer() -> int | None:
    from duolab.generation import generate
    from duolab.prompts import load_prompts

    return final_number(generate(shipped_pair(), load_prompts("math_reasoning", 1)[0], method="ar",
                                 max_new_tokens=128).text)


@functools.cache
def pld_tokens_equal_to_ar() -> int:
    from duolab.generation import generate
    from duolab.prompts import load_prompts

    prompt = load_prompts("math_reasoning", 1)[0]
    ar, pld = (generate(shipped_pair(), prompt, method=m, max_new_tokens=32).token_ids for m in ("ar", "pld"))
    return sum(a == b for a, b in zip(ar, pld, strict=True))


# --- notebook 01 ---------------------------------------------------------------------------

def _completed_verifier(answer):
    from duolab.lab.from_scratch import LEVEL, block_test

    if not callable(answer):
        return False, f"expected a function verify(p, q, drafts, generator), got {answer!r}"
    try:  # any lossless verifier passes, not only one that draws its numbers as duolab's does
        pvalue = block_test(answer, seed=0)[2]
    except Exception as e:  # a half-written verifier: say what broke
        return False, f"calling it raised {type(e).__name__}: {e}"
    if pvalue <= LEVEL:
        return False, f"block test p = {pvalue:.3g}: the committed tokens are not the target's"
    return True, f"block test p = {pvalue:.3g}: the block test finds nothing wrong"


def _broken_verifier(answer):
    """01-3: the bonus token drawn from q, not any break: the block test catches the answer, and
    its blocks come out as the reference break's do."""
    from duolab.lab.from_scratch import LEVEL, block_test, bonus_from_q, same_break

    if not callable(answer):
        return False, f"expected a function verify(p, q, drafts, generator), got {answer!r}"
    try:
        pvalue = block_test(answer, seed=0)[2]
        same = same_break(answer, bonus_from_q, seed=0) if pvalue <= LEVEL else 0.0
    except Exception as e:  # a half-written verifier: say what broke
        return False, f"calling it raised {type(e).__name__}: {e}"
    if pvalue > LEVEL:
        return False, f"block test p = {pvalue:.3g}: the block test did not catch it"
    if same <= LEVEL:
        return False, (f"block test p = {pvalue:.3g}: broken, but not as asked (its blocks differ from a bonus "
                       f"drawn from q: p = {same:.3g})")
    return True, f"block test p = {pvalue:.3g}: the block test caught the bonus drawn from q"


# --- notebooks 02-06 ---------------------------------------------------------------------------

def _sps_ideal_gamma(answer):
    from duolab.predict.budget import sps_ideal_speedup

    return _whole(answer, sps_ideal_speedup(_profile("cpu-2core.json"), 0.8, cap=16)[1], "γ = ")


def _flattest_profile(answer):
    from duolab.latency_profile import measured_profiles

    slopes = {name: p.target_ms(9) / p.target_ms(1) for name, p in measured_profiles().items()}
    return _name(answer, min(slopes, key=slopes.get), "the flattest: ")


def _equal_time_budget_h100(answer):
    from duolab.predict.budget import equal_time_budget

    return _whole(answer, equal_time_budget(_profile("h100-fp32.json")), "γ = ")


def _top_outcome(answer):
    from duolab.methods.round_policy import rank_outcomes

    truth = rank_outcomes([0.9, 0.6], [[(5, 0.08)], [(7, 0.3)]], start=10)[0]
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        return False, f"expected (prefix length, correction), got {answer!r}"
    return (tuple(answer) == truth), (f"(prefix, correction) = {truth}" if tuple(answer) == truth
                                      else f"{answer!r} is not it")


def _whole_block_chance(answer):
    from duolab.methods.round_policy import reach_chances

    return _number(answer, reach_chances([0.9, 0.8, 0.7])[-1], 3, "P(whole block) = ")


def _fair(column: str) -> pd.Series:
    table = pd.read_csv(DATA_DIR / "results" / "methods_fair.csv").set_index("task")
    return table[column]


def _profiles_in_band(answer):
    from duolab.latency_profile import measured_profiles
    from duolab.predict.regime import BAND, regime_point

    inside = [n for n, p in measured_profiles().items() if BAND[0] <= regime_point(p)[0] < BAND[1]]
    return _whole(answer, len(inside), f"inside {BAND}: {', '.join(inside)}; count ")


@functools.cache
def regime_cell() -> float:
    """duo / SpS's best at α = 0.9, slope 1.0 and cost ratio 0.25 on the CPU profile (exercise 06-2)."""
    from duolab.predict.regime import duo_over_sps, synthetic_profile

    return duo_over_sps(synthetic_profile(_profile("cpu-2core.json"), 0.25, 1.0), 0.9, runs=4)["duo_over_sps"]


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


def _expected_tokens(answer):
    from duolab.methods.round_policy import expected_accepted

    return _number(answer, expected_accepted(0.8, 4), 2, "E = ")


def _cpu_ratio(numerator: int, denominator: int) -> float:
    return _profile("cpu-2core.json").target_ms(numerator) / _profile("cpu-2core.json").target_ms(denominator)


EXERCISES: dict[str, Exercise] = {
    "00-1": Exercise(lambda a: _number(a, sps_tau(), 2, "τ = "), "τ is new tokens per target forward: both are in g.stats"),
    "00-2": Exercise(lambda a: _whole(a, targets_answer(), "the target answers "), "read the last number of the target's text (after 'The answer is')"),
    "00-3": Exercise(lambda a: _whole(a, pld_tokens_equal_to_ar(), "tokens equal to ar's: "), "generate 32 tokens with each and compare their token_ids position by position"),
    "01-1": Exercise(_completed_verifier, "accept d with probability min(1, p(d)/q(d)); on rejection draw "
                                          "from max(0, p - q), normalized"),
    "01-2": Exercise(_expected_tokens,
                     "sum the chances of reaching each position: 1 + α + ... + α^γ"),
    "01-3": Exercise(_broken_verifier, "e.g. draw the bonus token from q[len(drafts) - 1] instead of p[len(drafts)]"),
    "02-1": Exercise(lambda a: _number(a, _cpu_ratio(8, 1), 2, "T_t(8) / T_t(1) = "),
                     "profile.target_ms(n) is T_t(n)"),
    "02-2": Exercise(lambda a: _number(a, _profile("cpu-2core.json").draft_ms_per_token
                                       / _profile("cpu-2core.json").target_ms(1), 3, "t_d / T_t(1) = "),
                     "t_d is profile.draft_ms_per_token (duo's draft step)"),
    "02-3": Exercise(_flattest_profile, "compare T_t(9) / T_t(1) over measured_profiles(); answer a name"),
    "03-1": Exercise(_sps_ideal_gamma, "maximize expected_accepted(α, γ) / (γ t_d + T_t(γ + 1)) over γ = 1..16"),
    "03-2": Exercise(_equal_time_budget_h100, "the γ of budget.BUDGETS where |profile.draft_ms(γ) - "
                                              "profile.target_ms(γ + 1)| is smallest"),
    "04-1": Exercise(_top_outcome, "an outcome's chance: the chance of reaching its position times its q"),
    "04-2": Exercise(_whole_block_chance, "the block passes whole only if every token does"),
    "05-1": Exercise(lambda a: _name(a, _fair("duo / sps best").drop("median").idxmin()),
                     "the column 'duo / sps best' of the fair table; answer a task name"),
    "05-2": Exercise(lambda a: _number(a, _fair("duo ttft / sps best")["median"], 2, "median = "),
                     "the column 'duo ttft / sps best', row 'median'"),
    "06-1": Exercise(_profiles_in_band, "regime.regime_point(profile)[0] against regime.BAND, for each of "
                                        "measured_profiles()"),
    "06-2": Exercise(lambda a: _number(a, regime_cell(), 2, "duo / SpS's best = "), "regime.duo_over_sps(regime.synthetic_profile(base, 0.25, 1.0), 0.9, runs=4)"),
    "07-1": Exercise(lambda a: _whole(a, int((_real_quality().agreement >= 0.5).sum()), "tasks with α >= 0.5: "),
                     "count the rows of real_pair_quality.csv whose agreement is at least 0.5"),
    "07-2": Exercise(lambda a: _whole(a, _chat_overhead(), "tokens the template adds: "),
                     "len(tok.encode(chat text)) - len(tok.encode(plain text)), tok from data/real_pair/smollm2-draft"),
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
