"""A pair's content hash is its weights, tokenizer and config, not the version of transformers that
saved its config (duolab.artefacts.folder_hash): the same model converted under another
transformers is the same pair, and its committed artefacts stay current."""

import json
import shutil

import pytest

from duolab.artefacts import folder_hash, pair_hash, real_pair_hash
from duolab.paths import REAL_DRAFT, REAL_TARGET, REPO_DIR, real_pair_built

DRAFT = REPO_DIR / "data" / "models" / "draft"


def copy_of(tmp_path, name):
    """The shipped draft in a folder of its own (a new path: folder_hash caches by path and mtime)."""
    return shutil.copytree(DRAFT, tmp_path / name)


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_transformers_version_of_a_config_is_not_part_of_the_hash(tmp_path):
    original = copy_of(tmp_path, "original")
    resaved = copy_of(tmp_path, "resaved")
    for name in ("config.json", "generation_config.json"):
        version = json.loads((resaved / name).read_text())["transformers_version"]
        edit(resaved / name, f'"transformers_version": "{version}"', '"transformers_version": "9.99.0"')
    assert (original / "config.json").read_bytes() != (resaved / "config.json").read_bytes()
    assert folder_hash(resaved) == folder_hash(original) == folder_hash(DRAFT)
    assert pair_hash(original, resaved) == pair_hash(original, original)


def test_a_model_field_or_one_byte_of_the_weights_is(tmp_path):
    original = copy_of(tmp_path, "original")
    eps = copy_of(tmp_path, "eps")
    edit(eps / "config.json", '"rms_norm_eps": 1e-05', '"rms_norm_eps": 1e-06')
    weights = copy_of(tmp_path, "weights")
    data = bytearray((weights / "model.safetensors").read_bytes())
    data[-1] ^= 1  # one byte of the last tensor
    (weights / "model.safetensors").write_bytes(bytes(data))
    assert len({folder_hash(original), folder_hash(eps), folder_hash(weights)}) == 3
    assert len({pair_hash(original, d) for d in (original, eps, weights)}) == 3


def test_the_real_pair_is_known_by_its_record():
    record = json.loads((REPO_DIR / "data" / "real_pair" / "record.json").read_text())
    assert record["draft_hash"] == folder_hash(REAL_DRAFT)
    assert real_pair_hash() == record["pair"]


@pytest.mark.skipif(not real_pair_built(), reason=f"real pair not built ({REAL_TARGET} missing): make real-pair")
def test_the_built_real_pair_has_the_recorded_hash():
    """Whatever transformers converted the target, the build is the recorded pair."""
    assert pair_hash(REAL_TARGET, REAL_DRAFT) == real_pair_hash()
