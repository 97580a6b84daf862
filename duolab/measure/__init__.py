"""Measuring on the machine at hand: it may load models and run decoders (duolab.methods).

`profiling` measures a pair's latency profile and workloads (with `stopwatch` and
`caller_threads`, which also picks the threads of duo's caller and worker); `profile_store` keeps
one of each per pair, saved for this machine or measured once; `recommend` measures what the
prediction (duolab.predict) needs and asks it which method to use; `pair_measurements` keeps
what is known of each pair in this process; `runner_speed` and `channel_cost` time the fast
runner and the worker's pipe for their scripts. The decoders never import
this part: duo gets its profile from its caller (duolab.generation).
"""
