"""Round-trip cost of the draft worker's channel, and of the alternatives it was chosen over.

    python scripts/bench_channel.py

Measures (median of many round trips, a 32-token payload each way, the echo process pinned to
the draft core): the real DraftWorker's ping; a multiprocessing pipe carrying a plain list; the
same pipe carrying a torch tensor. Writes data/results/channel.csv.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import pandas as pd
import torch

from duolab.artefacts import save_table
from duolab.methods.worker import DraftWorker
from duolab.paths import DEFAULT_DRAFT, results_dir
from duolab.runtime import default_layout

REPEATS = 2000


def _echo(conn, core: int) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(msg)


def _pipe_round_trip(payload, core: int | None) -> float:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo, args=(child, core), daemon=True)
    proc.start()
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        parent.send(payload)
        parent.recv()
        times.append(time.perf_counter() - t)
    parent.send(None)
    proc.join()
    return sorted(times)[len(times) // 2]


def main() -> None:
    tokens = list(range(32))
    layout = default_layout(torch.device("cpu"))
    core = layout.draft_cores[0] if layout.draft_cores else None
    worker = DraftWorker(str(DEFAULT_DRAFT), layout.draft_cores, 1)
    rows = [{"channel": "DraftWorker.ping (socketpair, plain lists, spin-poll)",
             "round_trip_ms": 1000 * worker.ping(REPEATS)}]
    worker.close()
    rows.append({"channel": "multiprocessing.Pipe, plain list",
                 "round_trip_ms": 1000 * _pipe_round_trip(tokens, core)})
    rows.append({"channel": "multiprocessing.Pipe, torch tensor",
                 "round_trip_ms": 1000 * _pipe_round_trip(torch.tensor(tokens), core)})
    table = pd.DataFrame(rows)
    save_table(table, results_dir() / "channel.csv")
    print(table.to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
