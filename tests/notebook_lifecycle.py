"""Run a notebook's cells N times in ONE kernel, as "Run All" repeated, and count draft workers.

After each run it prints the number of live `duolab.methods.worker` processes that are children of the
kernel, then (when the notebook builds a widget) times one widget interaction and counts again.
At the end it interrupts the kernel (SIGINT to its process group, like the stop button), shuts it
down (jupyter interrupts, then asks it to exit), and reports whether any worker outlived the kernel
and whether a traceback reached the kernel's stderr (which the workers share). Exit status 0 when
every run passed and nothing was left behind. tests/test_worker_lifecycle.py checks the same
in-process on a toy pair; this needs jupyter_client and nbformat (the notebooks extra).

    DUOLAB_QUICK=1 .venv/bin/python -m tests.notebook_lifecycle            # notebook 03, 5 runs
    .venv/bin/python -m tests.notebook_lifecycle notebooks/04_draft_trees.ipynb --runs 3 --interact ""

scripts/check_worker_lifecycle.py runs the same. Quick mode (DUOLAB_QUICK=1) is set for the
kernel unless --full is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client import KernelManager

from duolab.methods.worker import worker_processes

REPO = Path(__file__).resolve().parents[1]
# one slider move of notebook 03's DecodingSweep: the observer reruns sps and duo synchronously
DEFAULT_INTERACT = "sweep.budget.value = 7 if sweep.budget.value != 7 else 6"


def run_cell(kc, source: str, timeout: float) -> tuple[float, str | None]:
    """Execute source; (seconds, error text or None)."""
    errors = []

    def hook(msg):
        if msg["header"]["msg_type"] == "error":
            errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    start = time.perf_counter()
    reply = kc.execute_interactive(source, timeout=timeout, output_hook=hook, store_history=True)
    seconds = time.perf_counter() - start
    if reply["content"]["status"] != "ok" and not errors:
        errors.append(reply["content"].get("ename", "error"))
    return seconds, "; ".join(errors) or None


def run_all(kc, cells: list[str], run: int, kernel_pid: int, args) -> bool:
    """One "Run All" (then the widget interaction, if any); prints its line; False on an error."""
    start = time.perf_counter()
    for i, source in enumerate(cells):
        _, error = run_cell(kc, source, args.timeout)
        if error:
            print(f"run {run}: cell {i} failed: {error}", flush=True)
            return False
    line = (f"run {run}: {time.perf_counter() - start:5.1f} s, "
            f"live workers after Run All: {len(worker_processes(kernel_pid))}")
    if args.interact:
        seconds, error = run_cell(kc, args.interact, args.timeout)
        if error:
            print(f"run {run}: interaction failed: {error}", flush=True)
            return False
        line += f"; first widget interaction {seconds:.2f} s, live workers after it: " \
                f"{len(worker_processes(kernel_pid))}"
    print(line, flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", nargs="?", default=str(REPO / "notebooks" / "03_choosing_the_budget.ipynb"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interact", default=DEFAULT_INTERACT,
                    help="code run after each Run All to move a widget ('' to skip)")
    ap.add_argument("--full", action="store_true", help="do not set DUOLAB_QUICK=1")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per cell")
    args = ap.parse_args(argv)

    nb = nbformat.read(args.notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    env = dict(os.environ)  # the kernel is the venv's python, where duolab is installed
    if not args.full:
        env["DUOLAB_QUICK"] = "1"
    before = set(worker_processes())
    stderr_log = tempfile.NamedTemporaryFile("w+", prefix="kernel_stderr_", suffix=".log", delete=False)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(Path(args.notebook).resolve().parent), stderr=stderr_log)
    kernel_pid = km.provisioner.pid
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    failed = True  # until the runs pass
    print(f"{Path(args.notebook).name}: {len(cells)} code cells, {args.runs} runs in kernel pid {kernel_pid}"
          f"{'' if args.full else ' (DUOLAB_QUICK=1)'}", flush=True)
    try:
        failed = not all(run_all(kc, cells, run, kernel_pid, args) for run in range(1, args.runs + 1))
        if not failed:
            live = len(worker_processes(kernel_pid))
            km.interrupt_kernel()  # SIGINT to the kernel's process group, like the stop button
            time.sleep(3)
            print(f"after an interrupt: live workers {len(worker_processes(kernel_pid))} (before it: {live})",
                  flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel()  # jupyter interrupts first, then asks the kernel to exit
        deadline = time.time() + 10
        while set(worker_processes()) - before and time.time() < deadline:
            time.sleep(0.2)
        left = set(worker_processes()) - before
        stderr_log.flush()
        text = Path(stderr_log.name).read_text()
        tracebacks = text.count("Traceback")
        print(f"after kernel shutdown: {len(left)} worker(s) left; {tracebacks} traceback(s) on the "
              f"kernel's stderr ({stderr_log.name})", flush=True)
        if tracebacks:
            print(text[-3000:], file=sys.stderr)
    return int(failed or bool(left) or bool(tracebacks))


if __name__ == "__main__":
    sys.exit(main())
