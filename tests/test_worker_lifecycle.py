"""Draft-worker lifecycle: one worker per draft model however often a pair is loaded again (a
notebook run twice in one kernel), and no traceback or leftover process after an interrupt or a
shutdown. scripts/check_worker_lifecycle.py checks the same on a real notebook and kernel."""

import gc
import os
import signal
import subprocess
import sys
import threading
import time

from duolab import generate, load_pair
from duolab.methods.worker import held_worker, process_alive, worker_processes


def worker_children(draft_path) -> list[int]:
    """Live draft workers of this process for that draft model."""
    return worker_processes(os.getpid(), draft_path)


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while process_alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    return not process_alive(pid)


def test_loading_a_pair_again_reuses_its_worker(toy_paths):
    """Like "Run All" five times in one kernel: each run loads the pair again and the previous
    pair stays referenced (by a widget, by Out[]), yet one worker serves them all."""
    draft = toy_paths[1]
    held, pids = [], set()
    try:
        for _ in range(5):
            pair = load_pair(*toy_paths)
            held.append(pair)
            generate(pair, "def f(x):", method="duo", max_new_tokens=6)
            pids.add(held_worker(pair).pid)
            assert len(worker_children(draft)) == 1
        assert len(pids) == 1
        # an earlier pair (an old widget moved) takes it back; closing a pair without it stops nothing
        first, last = held[0], held[-1]
        assert held_worker(first) is None
        g = generate(first, "def f(x):", method="duo", max_new_tokens=6)
        assert not g.stats["worker_failed"] and held_worker(first).pid in pids
        last.close()
        assert len(worker_children(draft)) == 1
        # the pair holding it closes it; a closed pair used again starts a fresh one
        first.close()
        assert not worker_children(draft)
        generate(first, "def f(x):", method="duo", max_new_tokens=6)
        assert len(worker_children(draft)) == 1 and held_worker(first).pid not in pids
    finally:
        for pair in held:
            pair.close()
    assert not worker_children(draft)


def test_garbage_pair_takes_its_worker_with_it(toy_paths):
    pair = load_pair(*toy_paths)
    generate(pair, "def f(x):", method="duo", max_new_tokens=4)
    pid = held_worker(pair).pid
    del pair
    gc.collect()
    assert wait_gone(pid)


PARENT = """
import signal, sys
# a kernel catches SIGINT even when its own parent ignores it (pytest-xdist's workers do)
signal.signal(signal.SIGINT, signal.default_int_handler)
from duolab import generate, load_pair
from duolab.methods.worker import held_worker
pair = load_pair({target!r}, {draft!r})
generate(pair, "def f(x):", method="duo", max_new_tokens=4)
started = False
while True:  # like a kernel: survives interrupts, runs a cell per line, exits when stdin closes
    try:
        if not started:
            started = True
            print(held_worker(pair).pid, flush=True)
        line = sys.stdin.readline()
        if not line:
            break  # no pair.close(): the worker must go when this process goes
        print("started", flush=True)  # the test interrupts only after this line
        g = generate(pair, "def f(x):", method="duo", max_new_tokens=int(line))
        print(held_worker(pair).pid, g.stats["worker_failed"], flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def run(parent, tokens: int) -> list[str]:
    """One "cell" of the kernel-like parent below: a duo generation; its reply."""
    parent.stdin.write(f"{tokens}\n")
    parent.stdin.flush()
    assert parent.stdout.readline().strip() == "started"
    return parent.stdout.readline().split()


def interrupt(parent) -> list[str]:
    """SIGINT to the parent's group; every line up to the "interrupted" it always causes (a
    generation that ends first prints its result before it)."""
    os.killpg(parent.pid, signal.SIGINT)
    lines = []
    while (line := parent.stdout.readline().strip()) != "interrupted":
        assert line, "the parent died on SIGINT"
        lines.append(line)
    return lines


def test_interrupt_and_shutdown_leave_no_worker_and_no_traceback(toy_paths):
    """Jupyter interrupts a kernel -- and shuts it down -- with SIGINT to its process group, then
    asks it to exit or kills it. The worker must not see the SIGINT (it keeps serving, with
    no KeyboardInterrupt traceback) and must not outlive its parent."""
    for ending in ("exit", "SIGKILL"):  # SIGKILL: a kernel restart, no clean-up code runs
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT.format(target=str(toy_paths[0]), draft=str(toy_paths[1]))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)  # its own process group, as a kernel has
        watchdog = threading.Timer(120, parent.kill)  # a hang fails the test instead of stalling it
        watchdog.start()
        try:
            worker = int(parent.stdout.readline())
            assert interrupt(parent) == []  # the stop button while idle
            assert run(parent, 8) == [str(worker), "False"], "the worker did not survive"
            # the stop button in the middle of a duo generation: the next one still runs, with one worker
            parent.stdin.write("400\n")
            parent.stdin.flush()
            assert parent.stdout.readline().strip() == "started"
            time.sleep(0.2)
            interrupt(parent)  # usually mid-generation; a machine fast enough may finish it first
            pid, failed = run(parent, 8)
            assert failed == "False"
            assert pid == str(worker) or wait_gone(worker)
            worker = int(pid)
            assert interrupt(parent) == []  # jupyter's shutdown interrupts first
            if ending == "exit":
                parent.stdin.close()
            else:
                parent.kill()
            parent.wait(timeout=30)
            assert wait_gone(worker), f"worker outlived its parent ({ending})"
            stderr = parent.stderr.read()
            assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        finally:
            watchdog.cancel()
            if parent.poll() is None:
                parent.kill()
