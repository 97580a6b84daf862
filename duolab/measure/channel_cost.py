"""Round-trip cost of the draft worker's channel and of the alternatives it was chosen over
(scripts/bench_channel.py calls it): the real DraftWorker's ping, and a multiprocessing pipe to an
echo process carrying a plain list or a torch tensor. Each is the median of many round trips of a
32-token payload each way, the echo process (or worker) pinned to the draft core.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import pandas as pd
import torch

from duolab.methods.worker import DraftWorker
from duolab.paths import DEFAULT_DRAFT
from duolab.runtime import default_layout

REPEATS = 2000
PAYLOAD = list(range(32))  # token ids, as a round's draft carries them


def _echo(conn, core: int | None) -> None:
    # the far end of the pipe: sends back whatever comes, until None
    if core is not None:
        os.sched_setaffinity(0, {core})
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(msg)


def pipe_round_trip(payload, core: int | None, repeats: int = REPEATS) -> float:
    """Median seconds of one send-and-receive of `payload` over a multiprocessing.Pipe to a spawned
    echo process pinned to `core`."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo, args=(child, core), daemon=True)
    proc.start()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        parent.send(payload)
        parent.recv()
        times.append(time.perf_counter() - t)
    parent.send(None)
    proc.join()
    return sorted(times)[len(times) // 2]


def channel_table(repeats: int = REPEATS) -> pd.DataFrame:
    """One row per channel: its median round trip in ms (columns channel, round_trip_ms)."""
    layout = default_layout(torch.device("cpu"))
    core = layout.draft_cores[0] if layout.draft_cores else None
    worker = DraftWorker(str(DEFAULT_DRAFT), layout.draft_cores, 1)
    rows = [{"channel": "DraftWorker.ping (socketpair, plain lists, spin-poll)",
             "round_trip_ms": 1000 * worker.ping(repeats)}]
    worker.close()
    rows.append({"channel": "multiprocessing.Pipe, plain list",
                 "round_trip_ms": 1000 * pipe_round_trip(PAYLOAD, core, repeats)})
    rows.append({"channel": "multiprocessing.Pipe, torch tensor",
                 "round_trip_ms": 1000 * pipe_round_trip(torch.tensor(PAYLOAD), core, repeats)})
    return pd.DataFrame(rows)
