"""The timing model, pure: a latency profile and a workload in, numbers out. Nothing here loads a
model, runs a decoder or measures (tests/test_import_graph.py holds it to that).

Its data live in the core (duolab.latency_profile: a `LatencyProfile` -- T_t(n), the draft's
time per token, the channel, the sync -- and a `Workload`: how often the draft agrees with the
target, and what prompt lookup would propose), since duo's round policy reads them too. On that
data alone, `simulate` replays ar, sps, pld and duo round by round (duo with the decoder's own
round policy; sps and duo with retrieved chains too), its options one `sim_params.SimParams`;
`budget` predicts throughput, chooses the budget and gives the no-overhead bounds, `regime` maps
where parallel drafting pays, `recommendation` ranks every method for a machine, and
`outcome_cache` models which rejection outcomes duo's worker pre-drafts.
"""
