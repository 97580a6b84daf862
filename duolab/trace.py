"""The columns of a timeline trace, shared by real runs (`Generation.trace`) and the simulator.

One row per event: which side ran it ("target", "draft", ...), what it was ("forward",
"draft", "sync", "wait", ...), its start and end in seconds from the call's start, and its round.
"""

TRACE_COLUMNS = ["side", "kind", "start_s", "end_s", "round"]
