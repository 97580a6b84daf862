"""The simulator's options: one frozen `SimParams`, the only place their defaults are written
(`duolab.predict.simulate`, `expected_throughput` and duolab.predict.budget take one as `params=`,
and its fields as keywords), and `OUTCOME_HIT`, the outcome-chain hit rate it assumes."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from duolab.arguments import is_whole
from duolab.predict.outcome_cache import OutcomeCache

# how often a rejected token's correction is one of the draft's next-best tokens there (the outcome chain that
# was pre-drafted for it): an assumption, fixed here; duo measures it per generation as
# `outcome_hit_rate`, and notebook 06 sets the two side by side (data/results/methods_duo.csv)
OUTCOME_HIT = 0.25


@dataclass(frozen=True)
class SimParams:
    """How to simulate one generation: every option of `simulate` and `expected_throughput` but the
    profile, the method and alpha, with the simulator's defaults (written here and nowhere else).
    `SimParams.of(params, **overrides)` builds one from keyword arguments; `check(method, alpha)`
    raises the simulator's ValueErrors for a bad combination.

    The generation stops after `new_tokens` tokens (an EOS when fewer than `max_new_tokens`, the
    cap the decoder sizes its drafts by; default: no EOS) of a `prompt_tokens` prompt; `seed`
    seeds the acceptance draws. With `agreement` (see `duolab.measure.profiling.measure_workload`)
    acceptance replays it exactly instead of drawing from alpha; `first_match` (default: alpha) is
    the chance that duo's next block opens with the target's token.

    duo's options are the decoder's, with its defaults: `budget` and `catch_up` take "auto"
    (chosen each round by duolab.methods.round_policy from the profile and the running alpha, prior
    `alpha`), and with `outcomes` the draft pre-drafts rejection outcomes in the time the target's
    forward leaves it (`budget=8, catch_up=0, outcomes=False` is the paper's schedule).
    A rejection at block position i is then caught with probability `outcome_hit` (how often the
    target's correction was pre-drafted; measured by duo as `outcome_hit_rate`) when
    the time left covered at least i + 1 outcome chains (they are ranked, so the early positions,
    where rejections are likeliest, come first). With `cache` (duolab.predict.outcome_cache) the
    outcomes are drafted as batched branches by its workers instead, and a rejection at a covered
    position is caught with the probability its plan gives. "pld" needs `lookups`: per new-token
    position, (tokens prompt lookup proposed there, how many of them the target's greedy output
    continues with). `retrieval` > 0 adds retrieved chains (prompt lookup: free to draft, at most
    `retrieval` tokens a round; needs `lookups`) to sps and duo, in one linear forward with the
    model's drafts (see `_run_sps` and `_duo_round`)."""

    budget: int | str = 4
    new_tokens: int = 128
    prompt_tokens: int = 128
    first_match: float | None = None
    catch_up: int | str = "auto"
    seed: int = 0
    max_new_tokens: int | None = None
    agreement: list[bool] | None = None
    outcomes: bool = True
    outcome_hit: float = OUTCOME_HIT
    cache: OutcomeCache | None = None
    lookups: list[tuple[int, int]] | None = None
    retrieval: int = 0

    @classmethod
    def of(cls, params: SimParams | None = None, /, **overrides) -> SimParams:
        """`params` (default: the defaults) with the fields named in `overrides` replaced; a name
        that is not a field is a ValueError."""
        unknown = sorted(set(overrides) - set(SIM_PARAM_NAMES))
        if unknown:
            raise ValueError(f"unknown simulator option{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))}; SimParams has {', '.join(SIM_PARAM_NAMES)}")
        base = cls() if params is None else params
        return replace(base, **overrides) if overrides else base

    def check(self, method: str, alpha: float) -> None:
        """The simulator's ValueErrors: an unknown method, pld without lookups, alpha outside
        [0, 1], a budget that is not an integer >= 1 (or "auto", for duo; AR has none)."""
        if method not in ("ar", "sps", "pld", "duo"):
            raise ValueError(f"simulate supports 'ar', 'sps', 'pld' and 'duo', got {method!r}")
        if method == "pld" and self.lookups is None:
            raise ValueError("simulating pld needs lookups (profiling.measure_workload records them)")
        if not is_whole(self.retrieval, 0):
            raise ValueError(f"retrieval must be an integer >= 0 (most retrieved tokens a round), "
                             f"got {self.retrieval!r}")
        if self.retrieval and method not in ("sps", "duo"):
            raise ValueError("retrieval adds prompt-lookup chains to sps or duo only")
        if self.retrieval and self.lookups is None:
            raise ValueError("simulating retrieval needs lookups (profiling.measure_workload records them)")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        budget = self.budget
        auto_ok = method == "duo" and budget == "auto"
        if method != "ar" and not auto_ok and not is_whole(budget, 1):
            raise ValueError(f"budget must be an integer >= 1{' or auto' if method == 'duo' else ''}, got {budget!r}")


SIM_PARAM_NAMES = tuple(f.name for f in fields(SimParams))


class _FromParams:
    """The default of a `budget` argument: take the budget from `params` (or SimParams's default)."""

    def __repr__(self) -> str:
        return "<from params>"


FROM_PARAMS: Any = _FromParams()


def sim_params(params: SimParams | None, budget, overrides: dict) -> SimParams:
    """The SimParams of a call that takes (..., budget=FROM_PARAMS, *, params=None, **overrides):
    `params` with `overrides` and, when given, `budget`."""
    if budget is not FROM_PARAMS:
        overrides = {**overrides, "budget": budget}
    return SimParams.of(params, **overrides)
