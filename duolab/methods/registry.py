"""The method registry and the checked call every decoder runs under.

A decoder is a function `decode(run, **options)` that commits tokens into a `Run`; it registers
under a name with its options' defaults, a check that raises ValueError on bad options, `prepare`
(set-up done once per pair, before the clock: building and warming the runners it uses, starting
the draft worker; default: the target's runner) and optionally `needs_profile` (the options make
it choose per round from a latency profile, which the caller then passes in as `profile=` and
`alpha_prior=`: duolab.generation.generate does that).

What every call shares -- method, max_new_tokens, the sampling settings, seed -- is one
`GenerationSettings`, its defaults written there once; `generate` (duolab.generation) and `decode`
take them as keyword arguments beside the method's own options (`GenerationSettings.split`).
`check_call` checks everything before any work; `run_call` prepares the method, starts the clock
and runs it, so TTFT and wall time never count set-up (`stats["setup_s"]` says what it took).
`decode` is both, for callers that pass every input themselves (profiling).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, fields
from typing import Callable

import torch

from duolab.arguments import is_whole
from duolab.methods.worker import held_worker
from duolab.models import Pair
from duolab.run import Generation, Run
from duolab.runtime import target_placement
from duolab.sampling import SamplingConfig


@dataclass(frozen=True)
class Method:
    name: str
    decode: Callable[..., None]  # decode(run, **options, **inputs) -> None; commits into run
    defaults: dict  # option name -> default value
    check: Callable[[dict], None]  # raises ValueError on bad options, before any model work
    prepare: Callable[[Pair, dict], None]  # set-up done once per pair, before the clock
    needs_profile: Callable[[dict], bool]  # these options choose per round from a latency profile
    drafts_in: str = "nothing"  # where a draft model runs: "nothing", "caller" (in process), "worker"


METHODS: dict[str, Method] = {}


def uses_runners(*roles: str) -> Callable[[Pair, dict], None]:
    """A `prepare` that builds and warms the pair's runners for `roles` ('target', 'draft')."""
    def prepare(pair: Pair, options: dict) -> None:
        for role in roles:
            pair.runner(role)

    return prepare


def register_method(name: str, defaults: dict | None = None, check: Callable[[dict], None] | None = None,
                    prepare: Callable[[Pair, dict], None] = uses_runners("target"),
                    needs_profile: Callable[[dict], bool] | None = None, drafts_in: str = "nothing"):
    def wrap(fn):
        METHODS[name] = Method(name, fn, dict(defaults or {}), check or (lambda options: None), prepare,
                               needs_profile or (lambda options: False), drafts_in)
        return fn

    return wrap


def check_retrieval(options: dict) -> None:
    r = options.get("retrieval")
    if r != "auto" and not is_whole(r, 0):
        raise ValueError("retrieval must be 'auto' (as many prompt-lookup tokens a round as the latency profile "
                         f"says pay) or an integer >= 0 (at most that many; 0 = none), got {r!r}")


def check_budget(options: dict) -> None:
    budget = options.get("budget")
    if not is_whole(budget, 1):
        raise ValueError(f"budget must be an integer >= 1 (draft tokens per round), got {budget!r}")


@dataclass(frozen=True)
class GenerationSettings:
    """What every method's call takes, with its defaults. Checked by `check_call`."""

    method: str = "ar"
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    seed: int | None = None  # None: a fresh random seed (in stats["seed"])

    @classmethod
    def split(cls, kwargs: dict) -> tuple[GenerationSettings, dict]:
        """(the settings among keyword arguments, the rest: the method's options)."""
        names = {f.name for f in fields(cls)}
        return (cls(**{k: v for k, v in kwargs.items() if k in names}),
                {k: v for k, v in kwargs.items() if k not in names})


@dataclass(frozen=True)
class Call:
    """A checked generation request: everything `run_call` needs, valid."""

    method: Method
    options: dict  # the method's options, defaults filled in
    prompt_ids: list[int]
    max_new_tokens: int
    sampling: SamplingConfig
    seed: int


def check_call(pair: Pair, prompt: str, settings: GenerationSettings, options: dict) -> Call:
    """Every argument of a generation checked (a ValueError naming what is wrong), nothing run."""
    method, max_new_tokens, seed = settings.method, settings.max_new_tokens, settings.seed
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    m = METHODS[method]
    unknown = set(options) - set(m.defaults)
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for method {method!r}; it accepts {sorted(m.defaults) or 'none'}"
        )
    opts = {**m.defaults, **options}
    m.check(opts)
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError("prompt is empty")
    if not is_whole(max_new_tokens, 1):
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    sampling = SamplingConfig(settings.temperature, settings.top_k, settings.top_p)
    sampling.check()
    if seed is not None and not is_whole(seed):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    prompt_ids = pair.tokenizer.encode(prompt)
    if len(prompt_ids) >= pair.context_length:
        raise ValueError(
            f"prompt is {len(prompt_ids)} tokens, longer than the model's context of "
            f"{pair.context_length} tokens (leave room for at least one new token)"
        )
    return Call(m, opts, prompt_ids, max_new_tokens, sampling,
                seed if seed is not None else secrets.randbits(62))


def run_call(pair: Pair, call: Call, **inputs) -> Generation:
    """Prepare the method, then run it on the clock (wall time and TTFT start after the set-up,
    whose seconds are `stats["setup_s"]`, ~0 once done). `inputs` go to the decoder beside its
    options (duo, and sps with retrieval="auto": profile, alpha_prior, lookup_prior)."""
    if call.method.needs_profile(call.options) and inputs.get("profile") is None:
        raise ValueError(f"these options of {call.method.name!r} choose per round from a latency profile: "
                         "call duolab.generate (which finds or measures it), or pass profile= and alpha_prior=")
    start = time.perf_counter()
    call.method.prepare(pair, call.options)
    run = Run(pair, call.prompt_ids, call.max_new_tokens, call.sampling, call.seed, time.perf_counter())
    run.add_stats(setup_s=run.t0 - start)
    beside_worker = call.method.drafts_in == "worker"
    with target_placement(pair.layout, beside_worker):
        run.add_stats(draft_threads=draft_threads(pair, call.method), caller_threads=torch.get_num_threads())
        call.method.decode(run, **call.options, **inputs)
    return run.finish(call.method.name, call.options)


def draft_threads(pair: Pair, method: Method) -> int:
    """How many torch threads the method drafts with: the caller's for an in-process draft, the
    worker's for duo, 0 for a method without a draft model (ar, pld)."""
    if method.drafts_in == "caller":
        return torch.get_num_threads()
    if method.drafts_in == "worker":
        worker = held_worker(pair)
        return worker.threads if worker is not None else pair.layout.draft_threads
    return 0


def decode(pair: Pair, prompt: str, *, inputs: dict | None = None, **settings_and_options) -> Generation:
    """`generate` for callers inside the package that pass every input themselves: no profile is
    looked up here, so a method that `needs_profile` must get it in `inputs`."""
    call = check_call(pair, prompt, *GenerationSettings.split(settings_and_options))
    return run_call(pair, call, **(inputs or {}))
