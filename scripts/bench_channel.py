"""Round-trip cost of the draft worker's channel, and of the alternatives it was chosen over.

    python scripts/bench_channel.py

Measures (median of many round trips, a 32-token payload each way, the echo process pinned to
the draft core): the real DraftWorker's ping; a multiprocessing pipe carrying a plain list; the
same pipe carrying a torch tensor (duolab.measure.channel_cost). Writes data/results/channel.csv.
"""

from __future__ import annotations

import argparse

from duolab.artefacts import save_table
from duolab.measure.channel_cost import REPEATS, channel_table
from duolab.paths import results_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=REPEATS, help="round trips per channel")
    args = ap.parse_args()
    table = channel_table(args.repeats)
    save_table(table, results_dir() / "channel.csv")
    print(table.to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
