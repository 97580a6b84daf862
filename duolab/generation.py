"""`generate`, the one entry point, with one signature for every method.

It checks the call (a ValueError naming what is wrong, before any work), prepares what the method
needs outside the timed call -- its warmed runners, the draft worker, and, when duo chooses its
budget, catch-up or retrieved chains per round (sps its retrieved chains), the pair's latency
profile and prior acceptance of the draft and of prompt lookup (duolab.measure.profile_store:
found on disk for this machine or measured once, then kept on the pair) -- and runs it
(duolab.methods). TTFT and wall time never count that set-up; `stats["setup_s"]` says what it took.
"""

from __future__ import annotations

import time

from duolab.measure.profile_store import cached_profile, workload_estimate
from duolab.methods import GenerationSettings, check_call, run_call
from duolab.methods.retrieval import lookup_acceptance
from duolab.models import Pair
from duolab.run import Generation


def generate(pair: Pair, prompt: str, **settings_and_options) -> Generation:
    """Generate a continuation of `prompt`. Keyword arguments: the settings every method shares
    (`duolab.methods.GenerationSettings`, where their defaults are: method, max_new_tokens,
    temperature, top_k, top_p, seed) and the method's own options (e.g. budget=; `duolab.METHODS`
    lists each method's defaults), all checked before any work. The clock (wall time, TTFT)
    starts after the checks and the method's set-up, whose seconds are `stats["setup_s"]`.
    `workload_prompts=[...]`: with per-round choices, the prompts the prior acceptances are measured
    on (default: one shipped prompt per task, in the pair's chat template when it has one); stats
    say which were used."""
    settings, options = GenerationSettings.split(settings_and_options)
    workload = options.pop("workload_prompts", None)
    call = check_call(pair, prompt, settings, options)
    if workload is not None and not call.method.needs_profile(call.options):
        raise ValueError("workload_prompts= is used only by options that choose per round (duo with budget, "
                         "catch_up or retrieval 'auto', sps with retrieval='auto')")
    if not call.method.needs_profile(call.options):
        return run_call(pair, call)
    start = time.perf_counter()
    estimate = workload_estimate(pair, workload)  # checks workload_prompts before any work
    profile = cached_profile(pair, quick=True)
    found_s = time.perf_counter() - start
    g = run_call(pair, call, profile=profile, alpha_prior=estimate.alpha,
                 lookup_prior=lookup_acceptance(estimate.lookups))
    g.stats["setup_s"] += found_s
    g.stats["alpha_prior"], g.stats["alpha_prompts"] = round(estimate.alpha, 4), estimate.source
    return g
