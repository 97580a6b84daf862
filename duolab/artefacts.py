"""What made each committed figure, table and profile: one manifest, `data/artefacts.json`.

Every file a notebook or script writes for the repository (figures/*.png|svg, data/results/**,
data/profiles/*.json) gets an entry keyed by its repository-relative path:

    {"sha256": <the file's>, "pair": <content hash of the pair that made it>, "commit": <duolab
     commit, "+dirty" when the tree had changes>, "date": ..., "machine": <fingerprint>,
     "mode": "full" | "quick", "producer": "notebooks/03_choosing_the_budget.ipynb" | "scripts/..."}

`stale_artefacts()` lists what does not show the shipped pair: no entry, another pair, a file
changed since it was recorded, or a producer that no longer exists. `python scripts/stale_artefacts.py`
prints it, and tests/test_artefacts.py fails on it. Quick mode keeps its own manifest in its
temporary folder, so CI never touches the committed one.

A notebook's first cell calls `start(notebook, pair)`: it names the producer and prints the pair,
machine, date and mode. A script is its own producer (`sys.argv[0]`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from duolab.paths import (
    DATA_DIR,
    DEFAULT_DRAFT,
    DEFAULT_TARGET,
    REPO_DIR,
    default_sources,
    output_root,
    quick_mode,
)

MANIFEST_NAME = "artefacts.json"
# The results of an earlier pair kept on purpose, each folder with a README saying which pair.
EARLIER_PAIRS_DIR = DATA_DIR / "earlier_pairs"
_state = {"producer": None, "pair": None}


def manifest_path() -> Path:
    root = output_root()
    return (root if root else DATA_DIR) / MANIFEST_NAME


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _content_sha256(path: Path) -> str:
    """A file's sha256, except that a JSON file carrying a top-level "transformers_version"
    (config.json, generation_config.json) is hashed as its parsed content without that key:
    it names the library that saved the file, not the model, and a fresh conversion with
    another transformers would otherwise be another pair (and every artefact stale)."""
    if path.suffix == ".json" and b'"transformers_version"' in (raw := path.read_bytes()):
        with contextlib.suppress(ValueError):  # not JSON after all: its bytes
            data = json.loads(raw)
            if isinstance(data, dict) and "transformers_version" in data:
                del data["transformers_version"]
                return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return sha256_file(path)


@functools.lru_cache(maxsize=None)
def _hash_folder(folder: str, stamp: tuple) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + b"\0")
            h.update(_content_sha256(p).encode())
    return h.hexdigest()


def folder_hash(folder: str | Path) -> str:
    """sha256 over a model folder's files (names and contents, a config's "transformers_version"
    left out); cached while no file changes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a model folder: {folder}")
    stamp = tuple((p.as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in sorted(folder.rglob("*")) if p.is_file())
    return _hash_folder(str(folder), stamp)


def pair_hash(target: str | Path, draft: str | Path) -> str:
    """The content hash of a (target, draft) pair of model folders: 16 hex digits."""
    return hashlib.sha256((folder_hash(target) + folder_hash(draft)).encode()).hexdigest()[:16]


def shipped_pair_hash() -> str:
    """The content hash of the pair shipped in data/models/."""
    return pair_hash(DEFAULT_TARGET, DEFAULT_DRAFT)


def hash_of(target: str, draft: str) -> str:
    """The content hash of a pair given as two sources (model folders); models without a folder
    (hub ids resolved from a cache) are hashed by their names."""
    try:
        return pair_hash(target, draft)
    except ValueError:
        return "names:" + hashlib.sha256(f"{target}|{draft}".encode()).hexdigest()[:16]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def machine_fingerprint() -> dict:
    """CPU model, usable cores, GPU name (or "none") and torch version: what a latency depends on."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": _cpu_model(), "cores": cores, "gpu": gpu, "torch": torch.__version__}


def machine_slug() -> str:
    """A file name for this machine: 'cpu-2core-1a2b3c' (or the GPU's short name), the last part
    a hash of the whole fingerprint, so two machines never share a profile by name."""
    fp = machine_fingerprint()
    kind = "cpu" if fp["gpu"] == "none" else fp["gpu"].replace("NVIDIA", "").split()[0].lower()
    digest = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:6]
    return f"{kind}-{fp['cores']}core-{digest}"


def describe_machine(fp: dict | None = None) -> str:
    fp = fp or machine_fingerprint()
    gpu = "no GPU" if fp.get("gpu") in (None, "none") else fp["gpu"]
    return f"{fp.get('cpu')}, {fp.get('cores')} cores, {gpu}, torch {fp.get('torch')}"


@functools.lru_cache(maxsize=1)
def commit() -> str:
    """The duolab commit, '+dirty' when tracked files had uncommitted changes; 'unknown' outside git."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "duolab", "scripts", "recipe")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def _default_producer() -> str | None:
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if script and script.suffix == ".py" and REPO_DIR in script.parents:
        return script.relative_to(REPO_DIR).as_posix()
    return None


def real_pair_hash(repo: Path = REPO_DIR) -> str | None:
    """The content hash of the real pair (`make real-pair`) as its build recorded it in
    data/real_pair/record.json, while the committed draft is the one recorded there (the target
    is not committed: its GGUF's sha256 is in the record)."""
    record = repo / "data" / "real_pair" / "record.json"
    if not record.exists():
        return None
    rec = json.loads(record.read_text())
    draft = record.parent / rec["draft"]
    return rec["pair"] if draft.is_dir() and folder_hash(draft) == rec["draft_hash"] else None


def start(producer: str, target: str | Path | None = None, draft: str | Path | None = None) -> str:
    """Name the notebook (or script) whose outputs follow, made by the pair that `load_pair()`
    loads (the shipped one, or DUOLAB_TARGET / DUOLAB_DRAFT), or by `target` and `draft`; prints
    and returns one line: pair, machine, date, mode and commit."""
    if not (REPO_DIR / producer).exists():
        raise ValueError(f"producer must be a file of the repository, got {producer!r}")
    _state["producer"] = producer
    _state["pair"] = pair_id = hash_of(*default_sources(target, draft))
    shipped = (" (the shipped pair)" if pair_id == shipped_pair_hash() else
               " (the real pair)" if pair_id == real_pair_hash() else " (NOT the shipped pair)")
    line = (f"{producer} · pair {pair_id}{shipped} · {describe_machine()} · "
            f"{_dt.date.today().isoformat()} · {'quick' if quick_mode() else 'full'} mode · "
            f"duolab {commit()}")
    print(line)
    return line


def entry_for(path: Path, producer: str | None = None, pair: str | None = None) -> dict:
    """The manifest entry of a file just written; the pair is `load_pair()`'s unless given."""
    producer = producer or _state["producer"] or _default_producer()
    if producer is None:
        raise ValueError(f"no producer for {path}: call duolab.artefacts.start(<notebook>) first")
    return {"sha256": sha256_file(path), "pair": pair or _state["pair"] or hash_of(*default_sources()),
            "commit": commit(), "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "machine": machine_fingerprint(), "mode": "quick" if quick_mode() else "full",
            "producer": producer}


def _key(path: Path) -> str | None:
    """The manifest's name for a file: relative to the quick-mode folder or the repository; None
    for a file outside both (a test's temporary file is no artefact)."""
    path = Path(path).resolve()
    for base in (output_root(), REPO_DIR):
        if base is not None and base.resolve() in path.parents:
            return path.relative_to(base.resolve()).as_posix()
    return None


def record(*paths: str | Path, producer: str | None = None, pair: str | None = None, **known) -> None:
    """Enter each written file in the manifest (a file lock keeps parallel writers apart);
    `known` overrides fields of the entry (scripts/backfill_provenance.py: an earlier run's)."""
    keyed = {k: Path(p) for p in paths if (k := _key(p)) is not None}
    if not keyed:
        return
    manifest = manifest_path()
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read_manifest(manifest)
        for k, p in keyed.items():
            entries[k] = {**entry_for(p, producer, pair), **known}
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(sorted(entries.items())), indent=1) + "\n")
        tmp.replace(manifest)


def read_manifest(path: Path | None = None) -> dict:
    path = path or manifest_path()
    return json.loads(path.read_text()) if path.exists() else {}


def made_by_this_pair(path: str | Path) -> bool:
    """Whether the manifest says `path` was made by the pair `load_pair()` loads now (so a
    notebook never draws another pair's committed results as this pair's)."""
    e = read_manifest(DATA_DIR / MANIFEST_NAME).get(_key(Path(path)) or "")
    return bool(e) and Path(path).exists() and e["pair"] == hash_of(*default_sources())


def save_table(table, path: str | Path, producer: str | None = None, pair: str | None = None) -> Path:
    """Write a pandas table as CSV and record it (`pair`: the pair that made it, default load_pair()'s)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    record(path, producer=producer, pair=pair)
    return path


def committed_artefacts(repo: Path = REPO_DIR) -> list[Path]:
    """Every figure, table and profile of the repository that a run of the code made (the H100
    record of an earlier pair under data/earlier_pairs/ excepted: it says so itself)."""
    data = repo / "data"
    found = [*(repo / "figures").glob("*.png"), *(repo / "figures").glob("*.svg"),
             *(data / "profiles").glob("*.json"), *(data / "results").rglob("*.csv"),
             *(data / "results").rglob("*.txt"), *(data / "real_pair").glob("profile-*.json")]
    return sorted(found)


def stale_artefacts(repo: Path = REPO_DIR) -> list[str]:
    """One line per committed artefact that does not show the shipped pair and current files."""
    entries = read_manifest(repo / "data" / MANIFEST_NAME)
    pair = pair_hash(repo / "data" / "models" / "target", repo / "data" / "models" / "draft")
    pairs = {pair, real_pair_hash(repo)} - {None}  # the lesson on the real pair shows that pair
    problems = []
    for path in committed_artefacts(repo):
        key = path.relative_to(repo).as_posix()
        e = entries.get(key)
        if e is None:
            problems.append(f"{key}: no producer recorded")
        elif e["pair"] not in pairs:
            problems.append(f"{key}: made with pair {e['pair']}, the shipped pair is {pair}")
        elif e["sha256"] != sha256_file(path):
            problems.append(f"{key}: changed since {e['producer']} wrote it")
        elif not (repo / e["producer"]).exists():
            problems.append(f"{key}: its producer {e['producer']} is gone")
        elif e["mode"] != "full":
            problems.append(f"{key}: made in {e['mode']} mode")
    for nb in sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        problems += notebook_problems(nb, pairs, repo)
    for key in sorted(set(entries) - {p.relative_to(repo).as_posix() for p in committed_artefacts(repo)}):
        problems.append(f"{key}: in the manifest, but the file is gone")
    return problems


def notebook_problems(nb: Path, pairs: set[str], repo: Path = REPO_DIR) -> list[str]:
    """A notebook is current when it carries the outputs of a full run whose first output (from
    `start`) names one of `pairs` (the shipped pair, or the real pair for its lesson)."""
    key = nb.relative_to(repo).as_posix()
    cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    if not any(c.get("outputs") for c in cells):
        return [f"{key}: committed without the outputs of a run"]
    first = next((c for c in cells if c.get("outputs")), None)
    text = "".join("".join(o.get("text", "")) for o in first["outputs"])
    if not any(f"{key} · pair {p} " in text for p in pairs):
        return [f"{key}: its first output does not name the shipped pair {' or '.join(sorted(pairs))}: "
                f"{text[:120]!r}"]
    if "· full mode ·" not in text:
        return [f"{key}: its outputs are not from a full run"]
    return []


def main() -> None:
    problems = stale_artefacts()
    print("\n".join(problems) if problems else
          f"every committed artefact was made by the shipped pair {shipped_pair_hash()}")
    raise SystemExit(1 if problems else 0)
