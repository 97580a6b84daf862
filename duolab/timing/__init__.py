"""The timing model: what a method costs on a machine, measured once and then predicted.

Its data live in the core (duolab.latency_profile: a `LatencyProfile` -- T_t(n), the draft's
time per token, the channel, the sync -- and a `Workload`: how often the draft agrees with the
target), since duo's round policy reads them too. `profiling` measures them on the machine at
hand (with `caller_threads` and `stopwatch`), and `profile_store` keeps one of each per pair,
saved for this machine or measured once. On that data alone, `simulate` replays ar, sps and duo
round by round (duo with the decoder's own round policy), `budget` predicts throughput and
chooses the budget, `regime` maps where parallel drafting pays, `recommend` picks a method and
budget for a pair here, and `h100_budget` puts the previous pair's H100 run through the model.
The decoders (duolab.methods) never import this part: duo gets its profile from its caller.
"""
