"""The CPU draft worker: an OS process with its own copy of the draft model, and its channel.

Channel: a Unix socketpair wrapped in multiprocessing's Connection, carrying small dicts of plain
Python lists (token ids, a few floats). Measured on the 2-core dev machine: ~0.1 ms per round trip
for a pipe with plain lists vs ~2 ms when the messages carry torch tensors and ~0.27 ms for gloo;
duolab never sends tensors (the draft is greedy, so the target needs only token ids), which makes
the plain pipe the cheapest choice that needs no extra dependency. `DraftWorker.ping()` measures it.

The worker is started as a fresh `python` running `duolab.worker.main` (not multiprocessing's spawn, which re-runs
the caller's __main__), asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG) and
also exits when its parent's pid changes or the channel closes: no orphans after a notebook
kernel restart or Ctrl-C.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from multiprocessing.connection import Connection

import torch

from duolab.runtime import pin_current_thread

READY_TIMEOUT_S = 180.0
# Both sides busy-poll this long before sleeping in select(): a sleeping process can take
# milliseconds to be woken when its core is shared, which is as long as a whole draft round.
SPIN_S = 0.005


def poll(conn: Connection, timeout: float, spin_s: float = SPIN_S) -> bool:
    """conn.poll(timeout), spinning for the first spin_s seconds."""
    end_spin = time.perf_counter() + min(spin_s, timeout)
    while time.perf_counter() < end_spin:
        if conn.poll(0):
            return True
    return conn.poll(max(0.0, timeout - spin_s))


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class DraftWorker:
    """Handle to a draft worker process. `request` starts drafting and returns at once; `wait`
    collects the reply, or returns None when the worker died or did not answer in time."""

    def __init__(self, draft_source: str, cores: list[int] | None = None, threads: int = 1,
                 runner: str = "fast"):
        parent_sock, child_sock = socket.socketpair()
        # "-c" rather than "-m duolab.worker": the package __init__ already imports this module
        cmd = [sys.executable, "-c", "import sys; from duolab.worker import main; main(sys.argv[1:])",
               "--fd", str(child_sock.fileno()),
               "--draft", str(draft_source), "--threads", str(threads), "--parent", str(os.getpid())]
        if cores:
            cmd += ["--cores", ",".join(map(str, cores))]
        cmd += ["--runner", runner]
        self.proc = subprocess.Popen(cmd, pass_fds=[child_sock.fileno()], stdin=subprocess.DEVNULL)
        child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self._finalizer = weakref.finalize(self, _kill, self.proc)
        self._next_id = 0
        ready = self._recv(READY_TIMEOUT_S)
        if ready is None:
            self.close()
            raise RuntimeError("draft worker did not start (see its stderr above)")
        self.runner = ready["runner"]
        self.pid = ready["pid"]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _recv(self, timeout: float):
        try:
            if not poll(self.conn, timeout):
                return None
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def _send(self, msg: dict) -> bool:
        try:
            self.conn.send(msg)
            return True
        except (BrokenPipeError, OSError):
            return False

    def request(self, context: list[int], budget: int, max_sequences: int,
                min_prob: float = 0.0) -> int | None:
        """Ask for a draft tree after `context`; returns the request id (None if the worker is gone)."""
        self._next_id += 1
        ok = self._send({"op": "draft", "id": self._next_id, "context": context,
                         "budget": budget, "max_sequences": max_sequences, "min_prob": min_prob})
        return self._next_id if ok else None

    def wait(self, request_id: int, timeout: float) -> dict | None:
        deadline = time.perf_counter() + timeout
        while True:
            reply = self._recv(max(0.0, deadline - time.perf_counter()))
            if reply is None or reply.get("id") == request_id:
                return reply
            # a stale reply (from a request abandoned by an interrupted call): skip it

    def ping(self, repeats: int = 200) -> float:
        """Median round-trip time of the channel in seconds (a small list each way)."""
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            self._send({"op": "ping", "payload": list(range(32))})
            self._recv(5.0)
            times.append(time.perf_counter() - t)
        return sorted(times)[len(times) // 2]

    def inject_fault(self, after_requests: int, mode: str) -> None:
        """Testing aid: crash ('crash') or stop answering ('hang') after n more draft requests."""
        self._send({"op": "fault", "after": after_requests, "mode": mode})

    def close(self) -> None:
        self._send({"op": "stop"})
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self._finalizer()  # kills it if it is still there
        self.conn.close()


# -- the worker process ------------------------------------------------------------------------
def _die_with_parent() -> None:
    try:  # Linux: SIGKILL us when the parent exits, even if it is killed itself
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _load_runner(source: str, kind: str):
    """The same runner the pair uses in-process ("fast" or "transformers"), on this process's copy."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    from duolab.kvcache import CachedModel

    model = AutoModelForCausalLM.from_pretrained(
        source, local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
    ).eval()
    if kind == "fast":
        from duolab.fast_llama import FastLlama

        return FastLlama(model)
    return CachedModel(model, "cpu")


def serve(conn: Connection, runner, parent_pid: int) -> None:
    from duolab.drafting import MultiSequenceDrafter

    drafter = MultiSequenceDrafter(runner)
    fault: dict | None = None
    while True:
        try:
            if not poll(conn, 0.5):
                if os.getppid() != parent_pid:
                    return  # parent gone
                continue
            msg = conn.recv()
        except (EOFError, OSError):
            return
        op = msg["op"]
        if op == "draft":
            if fault is not None:
                fault["after"] -= 1
                if fault["after"] < 0:
                    if fault["mode"] == "crash":
                        os._exit(3)
                    time.sleep(3600)  # hang
            start = time.perf_counter()
            tree = drafter.propose(msg["context"], msg["budget"], msg["max_sequences"],
                                   msg.get("min_prob", 0.0))
            conn.send({"id": msg["id"], "sequences": tree.sequences, "probs": tree.probs,
                       "candidates": tree.candidates, "confidence": tree.confidence,
                       "start": start, "end": time.perf_counter()})
        elif op == "ping":
            conn.send({"op": "pong"})
        elif op == "fault":
            fault = {"after": msg["after"], "mode": msg["mode"]}
        elif op == "stop":
            return


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
    runner = _load_runner(args.draft, args.runner)
    conn.send({"op": "ready", "pid": os.getpid(), "runner": args.runner})
    serve(conn, runner, args.parent)


if __name__ == "__main__":
    main()
