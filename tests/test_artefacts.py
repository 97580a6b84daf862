"""Every committed figure, table, profile and notebook output says what made it, and was made by
the shipped pair (duolab.artefacts, data/artefacts.json)."""

import json
import shutil

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from duolab import artefacts
from duolab.artefacts import (
    EARLIER_PAIRS_DIR,
    MANIFEST_NAME,
    entry_for,
    machine_fingerprint,
    machine_slug,
    pair_hash,
    read_manifest,
    save_table,
    shipped_pair_hash,
    stale_artefacts,
)
from duolab.paths import REPO_DIR

FIELDS = {"sha256", "pair", "commit", "date", "machine", "mode", "producer"}


def test_every_committed_artefact_and_notebook_shows_the_shipped_pair():
    """Fails on a figure, table or profile with no producer, made by another pair, changed since
    it was recorded, or made in quick mode; and on a notebook committed without a full run's
    outputs. `python -m duolab.artefacts` prints the same list."""
    assert stale_artefacts() == []


def test_the_manifest_records_pair_commit_date_machine_mode_and_producer():
    entries = read_manifest(REPO_DIR / "data" / MANIFEST_NAME)
    assert entries
    for key, e in entries.items():
        assert FIELDS <= set(e) <= FIELDS | {"note"}, key
        assert set(e["machine"]) >= {"cpu", "cores", "gpu", "torch"}, key


def fake_repo(tmp_path):
    """A repository in miniature: the shipped pair, one producer, one figure and one notebook,
    each recorded as made by that pair."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_DIR / "data" / "models", repo / "data" / "models")
    (repo / "scripts").mkdir()
    (repo / "scripts" / "make.py").write_text("# makes the figure\n")
    (repo / "figures").mkdir()
    fig = repo / "figures" / "f.png"
    fig.write_bytes(b"png")
    pair = pair_hash(repo / "data" / "models" / "target", repo / "data" / "models" / "draft")
    entry = {**entry_for(fig, "scripts/make.py", pair), "mode": "full"}
    (repo / "data" / MANIFEST_NAME).write_text(json.dumps({"figures/f.png": entry}))
    (repo / "notebooks").mkdir()
    nb = {"cells": [{"cell_type": "code", "source": "start()", "outputs": [
        {"output_type": "stream", "name": "stdout",
         "text": f"notebooks/00_x.ipynb · pair {pair} (the shipped pair) · cpu · 2026-12-01 · full mode · x\n"}]}]}
    (repo / "notebooks" / "00_x.ipynb").write_text(json.dumps(nb))
    return repo


def test_a_changed_weight_makes_every_artefact_stale(tmp_path):
    repo = fake_repo(tmp_path)
    assert stale_artefacts(repo) == []
    weights = repo / "data" / "models" / "target" / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] += 1  # one weight of the pair
    save_file(tensors, weights, metadata={"format": "pt"})
    problems = stale_artefacts(repo)
    assert len(problems) == 2
    assert problems[0].startswith("figures/f.png: made with pair ")
    assert problems[1].startswith("notebooks/00_x.ipynb: its first output does not name the shipped pair")


def test_an_unrecorded_edited_or_orphaned_artefact_is_stale(tmp_path):
    repo = fake_repo(tmp_path)
    (repo / "data" / "results").mkdir(parents=True)
    (repo / "data" / "results" / "orphan.csv").write_text("a\n1\n")
    (repo / "figures" / "f.png").write_bytes(b"edited by hand")
    nb = repo / "notebooks" / "01_y.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x", "outputs": []}]}))
    assert stale_artefacts(repo) == [
        "data/results/orphan.csv: no producer recorded",
        "figures/f.png: changed since scripts/make.py wrote it",
        "notebooks/01_y.ipynb: committed without the outputs of a run"]
    (repo / "scripts" / "make.py").unlink()
    (repo / "figures" / "f.png").write_bytes(b"png")
    assert "figures/f.png: its producer scripts/make.py is gone" in stale_artefacts(repo)


def test_a_quick_run_writes_its_own_manifest_never_the_committed_one(monkeypatch):
    monkeypatch.setenv("DUOLAB_QUICK", "1")
    committed = (REPO_DIR / "data" / MANIFEST_NAME).read_bytes()
    path = save_table(pd.DataFrame({"a": [1]}), artefacts.output_root() / "results" / "t.csv",
                      producer="scripts/bench_methods.py")
    assert REPO_DIR not in path.parents
    e = read_manifest()["results/t.csv"]
    assert set(e) == FIELDS and e["mode"] == "quick" and e["pair"] == shipped_pair_hash()
    assert e["machine"] == machine_fingerprint() and e["producer"] == "scripts/bench_methods.py"
    assert (REPO_DIR / "data" / MANIFEST_NAME).read_bytes() == committed


def test_a_producer_must_be_a_file_of_the_repository():
    with pytest.raises(ValueError, match="producer must be a file of the repository"):
        artefacts.start("notebooks/99_missing.ipynb")


def test_machine_slug_names_device_cores_and_fingerprint(monkeypatch):
    fp = {"cpu": "Some CPU", "cores": 16, "gpu": "NVIDIA H200", "torch": "2.11.0"}
    monkeypatch.setattr(artefacts, "machine_fingerprint", lambda: fp)
    slug = machine_slug()
    assert slug.startswith("h200-16core-") and len(slug.rsplit("-", 1)[1]) == 6
    monkeypatch.setattr(artefacts, "machine_fingerprint", lambda: {**fp, "cpu": "Other CPU"})
    assert machine_slug() != slug
    monkeypatch.setattr(artefacts, "machine_fingerprint", lambda: {**fp, "gpu": "NVIDIA H100 80GB HBM3"})
    assert machine_slug().startswith("h100-16core-")


def test_earlier_pairs_say_which_pair_made_them():
    folders = [d for d in EARLIER_PAIRS_DIR.iterdir() if d.is_dir()]
    assert folders
    for d in folders:
        readme = (d / "README.md").read_text()
        assert "**not** made by the shipped pair" in readme and "pair content hash" in readme, d
        assert shipped_pair_hash() not in readme


def test_pair_hash_follows_content_not_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        save_file({"w": torch.ones(3)}, d / "model.safetensors")
    assert pair_hash(a, a) == pair_hash(b, b)
    save_file({"w": torch.tensor([1.0, 1.0, 2.0])}, b / "model.safetensors")
    assert pair_hash(a, a) != pair_hash(b, b)
