"""Where duolab reads and writes, and quick mode.

`DATA_DIR` is the repository's data/ (models, prompt sets, profiles, results) unless the
environment variable DUOLAB_DATA names another folder. Quick mode (`DUOLAB_QUICK=1`) sends
every figure and table to a per-process temporary folder, so a CI run never overwrites what
is committed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DUOLAB_DATA", REPO_DIR / "data"))
DEFAULT_TARGET = DATA_DIR / "models" / "target"
DEFAULT_DRAFT = DATA_DIR / "models" / "draft"
_QUICK_DIR: Path | None = None


def default_sources(target=None, draft=None) -> tuple[str, str]:
    """The (target, draft) that `load_pair` loads: the arguments, else DUOLAB_TARGET /
    DUOLAB_DRAFT, else the pair shipped in data/models/."""
    return (str(target or os.environ.get("DUOLAB_TARGET") or DEFAULT_TARGET),
            str(draft or os.environ.get("DUOLAB_DRAFT") or DEFAULT_DRAFT))


def quick_mode() -> bool:
    return os.environ.get("DUOLAB_QUICK", "") not in ("", "0")


def output_root() -> Path | None:
    """None for the repository; a per-process temporary folder in quick mode."""
    global _QUICK_DIR
    if not quick_mode():
        return None
    if _QUICK_DIR is None:
        _QUICK_DIR = Path(tempfile.mkdtemp(prefix="duolab-quick-"))
    return _QUICK_DIR


def output_dir(kind: str) -> Path:
    """Where notebooks and benchmarks write: figures/ of the repository, results/ or profiles/
    of DATA_DIR, or the same names under a temporary folder in quick mode."""
    places = {"figures": REPO_DIR / "figures", "results": DATA_DIR / "results",
              "profiles": DATA_DIR / "profiles"}
    if kind not in places:
        raise ValueError(f"kind must be one of {sorted(places)}, got {kind!r}")
    root = output_root()
    d = root / kind if root else places[kind]
    d.mkdir(parents=True, exist_ok=True)
    return d


def figures_dir() -> Path:
    return output_dir("figures")


def results_dir() -> Path:
    return output_dir("results")


# The real pair (`make real-pair`): SmolLM2-135M-Instruct, dequantized from a PyPI wheel into a
# folder that is not committed, and its distilled draft, which is.
REAL_TARGET = REPO_DIR / "build" / "models" / "smollm2-135m-instruct"
REAL_DRAFT = DATA_DIR / "real_pair" / "smollm2-draft"


def real_pair_built() -> bool:
    return (REAL_TARGET / "model.safetensors").exists() and (REAL_DRAFT / "model.safetensors").exists()
