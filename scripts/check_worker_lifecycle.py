"""Run a notebook's cells N times in ONE kernel, as "Run All" repeated, and count draft workers.

After each run it prints the number of live `duolab.methods.worker` processes that are children of the
kernel, then (when the notebook builds a widget) times one widget interaction and counts again.
At the end it interrupts the kernel (SIGINT to its process group, like the stop button), shuts it
down (jupyter interrupts, then asks it to exit), and reports whether any worker outlived the kernel
and whether a traceback reached the kernel's stderr (which the workers share).

    DUOLAB_QUICK=1 .venv/bin/python scripts/check_worker_lifecycle.py            # notebook 03, 5 runs
    .venv/bin/python scripts/check_worker_lifecycle.py notebooks/04_draft_trees.ipynb --runs 3 --interact ""

Quick mode (DUOLAB_QUICK=1) is set for the kernel unless --full is given. The check itself is a
test harness, tests/notebook_lifecycle.py (also `python -m tests.notebook_lifecycle`).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ lives in the repository
    from tests.notebook_lifecycle import main

    sys.exit(main())
