"""Loss curves of the default pair's training runs, from the logs `make models` leaves in build/.

    python -m recipe.plot_training_curves     # from the repository root (recipe is not installed)

Reads build/{draft,target,target2,target3}_log.jsonl (whichever exist: one record per 10 steps,
validation loss at checkpoints), writes the records to data/results/training_curves.csv and draws
figures/training_loss.png (+ .svg): training loss against tokens seen, one line per run, the
target's stages one after another. Each stage trains on its own token stream (stage 3's is
weighted toward the hard tasks), so training losses are comparable within a stage, not across;
the validation points are each stream's held-out tail.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from duolab.artefacts import save_table
from duolab.lab.plots import legend_outside, save_figure
from recipe import training

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"draft": "draft", "target": "target stage 1", "target2": "target stage 2", "target3": "target stage 3"}
SPECS = {"draft": training.DRAFT_TRAIN, "target": training.TARGET_TRAIN, "target2": training.TARGET_STAGE2,
         "target3": training.TARGET_STAGE3}


def load_logs(build: Path) -> pd.DataFrame:
    """The training logs in `build`, one table: the run's label and the tokens seen at each record."""
    frames, offset = [], 0
    for run, label in RUNS.items():
        spec = SPECS[run]
        path = build / f"{run}_log.jsonl"
        if not path.exists():  # a stage without its log still moves the target's token count on
            offset += 0 if run == "draft" else spec.steps * spec.batch * spec.seq_len
            continue
        log = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
        log["run"] = label
        # the target's stages continue one another; the draft starts from zero
        base = 0 if run == "draft" else offset
        log["tokens"] = base + log["step"] * spec.batch * spec.seq_len
        if run != "draft":
            offset = int(log["tokens"].max())
        frames.append(log)
    if not frames:
        raise SystemExit(f"no training logs in {build} (run `make models` first)")
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    logs = load_logs(ROOT / "build")
    save_table(logs, ROOT / "data" / "results" / "training_curves.csv")
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for run, g in logs.groupby("run", sort=False):
        line, = ax.plot(g.tokens / 1e6, g.loss, lw=1, label=f"{run} (train)")
        if "val_loss" in g:
            v = g.dropna(subset=["val_loss"])
            ax.plot(v.tokens / 1e6, v.val_loss, "o", color=line.get_color(), ms=4, label=f"{run} (validation)")
    ax.set(xlabel="training tokens (millions)", ylabel="loss (nats)", title="training loss of the default pair")
    legend_outside(ax)
    save_figure(fig, "training_loss")
    print(logs.groupby("run", sort=False).agg(steps=("step", "max"), last_loss=("loss", "last")).to_string())


if __name__ == "__main__":
    main()
