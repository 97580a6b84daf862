"""The CPU draft worker: an OS process with its own copy of the draft model, and its channel.

Channel: a Unix socketpair wrapped in multiprocessing's Connection, carrying small messages of plain
Python lists (token ids, a few floats): a `DraftRequest` each round, a `DraftReply` back. Measured on the 2-core dev machine: ~0.1 ms per round trip
for a pipe with plain lists vs ~2 ms when the messages carry torch tensors and ~0.27 ms for gloo;
duolab never sends tensors (the draft is greedy, so the target needs only token ids), which makes
the plain pipe the cheapest choice that needs no extra dependency. `DraftWorker.ping()` measures it.

The worker is started as a fresh `python` running `duolab.methods.worker_process.main` (not multiprocessing's spawn,
which re-runs the caller's __main__); it imports little beyond torch (`_WORKER_MAIN`), so it is ready in
about the time `import torch` takes. It asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG) and
also exits when its parent's pid changes or the channel closes: no orphans after a notebook
kernel restart or Ctrl-C. It runs in its own session, so the Ctrl-C (SIGINT) that Jupyter sends to
the kernel's process group -- on an interrupt and before every shutdown -- never reaches it: the
worker stays ready for the next generation (a reply to an abandoned request is skipped), and
nothing prints a traceback.

Lifecycle: one worker per draft model (source, runner, cores, threads) in a process. `draft_worker(pair)`
starts it on first use and hands it to whichever pair asks (`held_worker(pair)` says which it holds);
a pair loaded again (a notebook run twice in one kernel) takes over its predecessor's worker instead
of starting a second one. The worker stops with `Pair.close()` of the pair holding it, when that
pair is garbage, or when this process exits.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from duolab.methods.drafting import Compact, DraftPlan, DraftTree

if TYPE_CHECKING:
    from duolab.models import Pair

READY_TIMEOUT_S = 180.0
# Every worker's command line holds this (worker_processes finds workers by it)
WORKER_MARK = "duolab.methods.worker_process import main"
# The worker's program. SIGINT is ignored before anything is imported (belt and braces: the worker
# has its own session). duolab and duolab.methods are entered as bare packages (this duolab's
# folders, their __init__ not run): those import the whole package and transformers (~2 s), where
# the worker needs torch and a few modules (duolab.methods.worker_process).
_PACKAGES = (("duolab", str(Path(__file__).resolve().parents[1])),
             ("duolab.methods", str(Path(__file__).resolve().parent)))
_WORKER_PRELUDE = ("import signal, sys, types; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                   f"for name, folder in {_PACKAGES!r}:\n"
                   "    sys.modules[name] = types.ModuleType(name); sys.modules[name].__path__ = [folder]\n")
_WORKER_MAIN = _WORKER_PRELUDE + f"from {WORKER_MARK}; main(sys.argv[1:])"
# Both sides busy-poll this long before sleeping in select(): a sleeping process can take
# milliseconds to be woken when its core is shared, which is as long as a whole draft round.
SPIN_S = 0.005


@dataclass
class DraftRequest(Compact):
    """Target -> worker: draft after `context` within `plan` (MultiSequenceDrafter.draft_tree, then
    draft_outcomes)."""

    id: int
    context: list[int]
    plan: DraftPlan


@dataclass
class DraftReply(DraftTree):
    """Worker -> target: the draft tree for request `id`, and when the worker drafted it
    (perf_counter seconds; CLOCK_MONOTONIC is shared by the processes of one machine)."""

    id: int = 0
    start: float = 0.0
    end: float = 0.0
    outcomes_start: float = 0.0  # when the outcome chains began (0: none drafted)

    @property
    def n_tokens(self) -> int:
        """Tokens drafted: the tree's and the outcome chains' (their corrections were not)."""
        return sum(len(s) for s in self.sequences) + sum(len(o) - 1 for o in self.outcomes)


def poll(conn: Connection, timeout: float) -> bool:
    """conn.poll(timeout), spinning for the first SPIN_S seconds."""
    end_spin = time.perf_counter() + min(SPIN_S, timeout)
    while time.perf_counter() < end_spin:
        if conn.poll(0):
            return True
    return conn.poll(max(0.0, timeout - SPIN_S))


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
        # "-c" rather than "-m duolab.methods.worker_process": its packages' __init__ import all of duolab
        cmd = [sys.executable, "-c", _WORKER_MAIN,
               "--fd", str(child_sock.fileno()),
               "--draft", str(draft_source), "--threads", str(threads), "--parent", str(os.getpid())]
        if cores:
            cmd += ["--cores", ",".join(map(str, cores))]
        cmd += ["--runner", runner]
        # its own session: the SIGINT a terminal or Jupyter sends to our process group is ours alone
        self.proc = subprocess.Popen(cmd, pass_fds=[child_sock.fileno()], stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self._finalizer = weakref.finalize(self, _kill, self.proc)
        self._next_id = 0
        # set while a message is half sent or half read: an exception there (Ctrl-C) leaves the
        # stream unusable, and the worker is replaced on next use
        self._mid_message = False
        self.holder: weakref.ref | None = None  # the pair using it (see draft_worker)
        ready = self._recv(READY_TIMEOUT_S)
        if ready is None:
            self.close()
            raise RuntimeError("draft worker did not start (see its stderr above)")
        self.runner = ready["runner"]
        self.pid = ready["pid"]
        self.threads = threads

    @property
    def alive(self) -> bool:
        """The process runs and the channel is usable."""
        return not self._mid_message and self.proc.poll() is None

    def _recv(self, timeout: float):
        try:
            if not poll(self.conn, timeout):
                return None
            self._mid_message = True
            msg = self.conn.recv()
        except (EOFError, OSError):
            return None
        self._mid_message = False
        return msg

    def _send(self, msg) -> bool:
        try:
            self._mid_message = True
            self.conn.send(msg)
        except (BrokenPipeError, OSError):
            return False
        self._mid_message = False
        return True

    def request(self, context: list[int], plan: DraftPlan) -> int | None:
        """Ask for a draft tree after `context` within `plan`; returns the request id (None if the
        worker is gone)."""
        self._next_id += 1
        ok = self._send(DraftRequest(self._next_id, context, plan))
        return self._next_id if ok else None

    def sync(self) -> None:
        """Tell the worker the target's forward is done: it stops drafting outcome chains and replies."""
        self._send({"op": "sync"})

    def wait(self, request_id: int, timeout: float) -> DraftReply | None:
        """The reply to `request_id`; None when the worker died or did not answer within timeout."""
        deadline = time.perf_counter() + timeout
        while True:
            reply = self._recv(max(0.0, deadline - time.perf_counter()))
            if reply is None or (isinstance(reply, DraftReply) and reply.id == request_id):
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

    def set_threads(self, n: int) -> int:
        """Draft with n torch threads from now on (on the worker's cores); returns the count set."""
        self._send({"op": "threads", "n": int(n)})
        while True:
            reply = self._recv(30.0)
            if reply is None:
                raise RuntimeError("the draft worker did not answer a change of threads")
            if isinstance(reply, dict) and reply.get("op") == "threads":
                self.threads = reply["n"]
                return self.threads

    def inject_fault(self, after_requests: int, mode: str) -> None:
        """Testing aid: crash ('crash') or stop answering ('hang') after n more draft requests."""
        self._send({"op": "fault", "after": after_requests, "mode": mode})

    def close(self, grace_s: float = 2.0) -> None:
        """Ask the worker to stop; kill it if it has not within grace_s seconds."""
        self._send({"op": "stop"})
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        self._finalizer()  # kills it if it is still there
        self.conn.close()


# -- lifecycle: one worker per draft model in this process ---------------------------------------
# The worker each pair holds (weak keys: a pair that is garbage lets go of its worker), and every
# running worker by what it serves (weak values: a worker lives as long as a pair holds it).
_HELD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_WORKERS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _worker_key(pair: Pair) -> tuple:
    layout = pair.layout
    source = Path(pair.draft_source)
    # the weights' files and times: a model rebuilt in place is a different worker
    stamp = tuple(sorted((f.name, f.stat().st_mtime_ns) for f in source.iterdir() if f.is_file())) \
        if source.is_dir() else ()
    return (str(source.resolve()) if source.exists() else str(source), stamp, pair.draft_runner,
            tuple(layout.draft_cores) if layout and layout.draft_cores else None,
            layout.draft_threads if layout else 1)


def held_worker(pair: Pair) -> DraftWorker | None:
    """The worker the pair holds now (None before its first duo call, or after it was let go)."""
    return _HELD.get(pair)


def draft_worker(pair: Pair) -> DraftWorker:
    """The draft worker for the pair's draft model: started on first use, restarted if it died.

    A worker already running for the same draft model (an earlier pair loaded from the same files,
    e.g. by a notebook run again in the same kernel) is taken over rather than duplicated."""
    worker = _HELD.get(pair)
    if worker is not None and worker.alive:
        return worker
    key = _worker_key(pair)
    worker = _WORKERS.get(key)
    if worker is not None and not worker.alive:
        discard_worker(pair, worker)
        worker = None
    if worker is None:
        layout = pair.layout
        worker = DraftWorker(pair.draft_source, layout.draft_cores if layout else None,
                             layout.draft_threads if layout else 1, runner=pair.draft_runner)
        _WORKERS[key] = worker
    previous = worker.holder() if worker.holder is not None else None
    if previous is not None and previous is not pair and _HELD.get(previous) is worker:
        del _HELD[previous]  # superseded: that pair starts (or takes) one when used again
    worker.holder = weakref.ref(pair)
    _HELD[pair] = worker
    if discard_worker not in pair.closers:
        pair.closers.append(discard_worker)  # Pair.close() stops it
    return worker


def rekey_worker(pair: Pair) -> None:
    """The pair's running worker now serves the pair's layout (its threads were changed in place):
    file it under the layout's key, so a pair loaded later with this layout takes it over."""
    worker = _HELD.get(pair)
    for key, w in list(_WORKERS.items()):
        if w is worker:
            del _WORKERS[key]
    if worker is not None:
        _WORKERS[_worker_key(pair)] = worker


def discard_worker(pair: Pair, worker: DraftWorker | None = None) -> None:
    """Kill the pair's worker (dead, hung or interrupted mid-request; or the pair is closed): the
    next draft_worker(pair) starts a fresh one."""
    worker = worker or _HELD.get(pair)
    if worker is None:
        return
    if _HELD.get(pair) is worker:
        del _HELD[pair]
    for key, w in list(_WORKERS.items()):
        if w is worker:
            del _WORKERS[key]
    worker.close(grace_s=0.0)


# -- finding worker processes (the lifecycle tests, duolab.lab.soak, tests/notebook_lifecycle.py)
# Workers are found by WORKER_MARK in their command lines, read from /proc: Linux only, and no
# dependency beyond the standard library.


def _proc_table() -> dict[int, tuple[int, str, list[str]]]:
    """pid -> (parent pid, state letter, argv) of every process /proc lists now."""
    table = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone since it was listed
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        table[int(proc.name)] = (int(ppid), state, argv)
    return table


def process_alive(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie, not yet reaped, has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def worker_processes(ancestor: int | None = None, draft: str | os.PathLike | None = None) -> list[int]:
    """Live draft-worker pids: every one on the machine, or the descendants of `ancestor` (a
    kernel, this process); only those serving the draft model at `draft` when it is given."""
    table = _proc_table()

    def descends(pid: int) -> bool:
        seen = set()
        while pid in table and pid not in seen:
            seen.add(pid)
            pid = table[pid][0]
            if pid == ancestor:
                return True
        return False

    return sorted(pid for pid, (_, state, argv) in table.items()
                  if state not in ("Z", "X") and WORKER_MARK in " ".join(argv)
                  and (draft is None or str(draft) in argv) and (ancestor is None or descends(pid)))
