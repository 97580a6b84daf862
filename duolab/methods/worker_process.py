"""The draft worker process itself: load the draft, then answer `DraftRequest`s with `DraftReply`s
(duolab.methods.worker is the side that starts it and talks to it)."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import time
from multiprocessing.connection import Connection

import torch

from duolab.methods.drafting import MultiSequenceDrafter
from duolab.methods.worker import DraftReply, DraftRequest, poll
from duolab.models import context_of, warm_up
from duolab.runtime import pin_current_thread


def _die_with_parent() -> None:
    try:  # Linux: SIGKILL us when the parent exits, even if it is killed itself
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _load_runner(source: str, kind: str):
    """The same runner the pair uses in-process ("fast" or "transformers"), on this process's copy,
    warmed (before "ready": no generation pays this process's first forward), and the model's EOS id."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    from duolab.runners.kvcache import CachedModel

    model = AutoModelForCausalLM.from_pretrained(
        source, local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
    ).eval()
    if kind == "fast":
        from duolab.runners.fast_llama import FastLlama

        runner = FastLlama(model)
    else:
        runner = CachedModel(model, "cpu")
    warm_up(runner, context_of(model.config))
    return runner, model.config.eos_token_id


def serve(conn: Connection, runner, parent_pid: int, eos_id: int | None = None) -> None:
    """Answer requests until told to stop, the channel closes or the parent is gone."""
    drafter = MultiSequenceDrafter(runner, eos_id)
    fault: dict | None = None
    try:
        while True:
            if not poll(conn, 0.5):
                if os.getppid() != parent_pid:
                    return  # parent gone
                continue
            msg = conn.recv()
            if isinstance(msg, DraftRequest):
                if fault is not None:
                    fault["after"] -= 1
                    if fault["after"] < 0:
                        if fault["mode"] == "crash":
                            os._exit(3)
                        time.sleep(3600)  # hang
                start = time.perf_counter()
                tree = drafter.propose(msg.context, msg.budget, msg.max_sequences)
                split = time.perf_counter()
                # outcome chains only until the target says its forward is done (a "sync" message)
                tree.outcomes = drafter.draft_outcomes(msg.outcomes, msg.outcome_len, msg.deadline,
                                                       stop=lambda: conn.poll(0))
                conn.send(DraftReply(**vars(tree), id=msg.id, start=start, end=time.perf_counter(),
                                     outcomes_start=split if tree.outcomes else 0.0))
            elif msg["op"] == "sync":
                pass  # the target finished its forward: only outcome drafting listens for it
            elif msg["op"] == "ping":
                conn.send({"op": "pong"})
            elif msg["op"] == "threads":  # the profiler times the draft step at several counts
                torch.set_num_threads(msg["n"])
                conn.send({"op": "threads", "n": torch.get_num_threads()})
            elif msg["op"] == "fault":
                fault = {"after": msg["after"], "mode": msg["mode"]}
            elif msg["op"] == "stop":
                return
    except (EOFError, OSError):
        return  # the channel closed (the parent closed it or exited): a normal end


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="duolab draft worker (started by DraftWorker)")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--draft", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cores", default="")
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--runner", choices=("fast", "transformers"), default="fast")
    args = ap.parse_args(argv)
    _die_with_parent()
    if os.getppid() != args.parent:
        return
    conn = Connection(args.fd)
    pin_current_thread([int(c) for c in args.cores.split(",") if c] or None, args.threads)
    runner, eos_id = _load_runner(args.draft, args.runner)
    try:
        conn.send({"op": "ready", "pid": os.getpid(), "runner": args.runner})
    except OSError:
        return  # the parent gave up waiting
    serve(conn, runner, args.parent, eos_id)


if __name__ == "__main__":
    main()
