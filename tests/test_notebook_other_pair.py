"""Nothing is tied to the default pair: a notebook runs, in quick mode, on a pair the test builds."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from recipe.toy import build_toy_pair

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_budget_notebook_runs_on_another_pair(tmp_path, monkeypatch):
    target, draft = build_toy_pair(tmp_path / "pair", vocab_size=768, target_hidden=96, draft_hidden=96,
                                   target_layers=3, draft_layers=1, context=2048, seed=7)
    monkeypatch.setenv("DUOLAB_TARGET", str(target))
    monkeypatch.setenv("DUOLAB_DRAFT", str(draft))
    monkeypatch.setenv("DUOLAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / "03_choosing_the_budget.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute(env=dict(os.environ))
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert str(target) in printed, "the notebook did not load the pair it was given"
