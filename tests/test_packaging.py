"""The project's own hygiene: dependency lists agree, notebooks are committed clean."""

import json
import re
from pathlib import Path

import tomllib
import yaml  # shipped with jupyter's dependencies

ROOT = Path(__file__).resolve().parent.parent


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"]}
    for _extra, deps in project["optional-dependencies"].items():
        wanted |= {_name(d) for d in deps if not d.startswith("duolab")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(d) for d in pip_list if not d.startswith("-e")}
    assert listed == wanted


def test_notebooks_are_committed_with_a_whole_runs_outputs():
    """Committed with the outputs of one top-to-bottom run (make figures), so they read on GitHub:
    every code cell executed, in order, by one kernel. (tests/test_artefacts.py checks that the
    run was a full one, by the shipped pair.)"""
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no notebooks found"
    for nb in notebooks:
        code = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        assert [c.get("execution_count") for c in code] == list(range(1, len(code) + 1)), nb.name
        assert any(c.get("outputs") for c in code), nb.name


def test_committed_notebooks_show_their_figures():
    """A notebook that saves a figure shows it too (a run under MPLBACKEND=Agg would not)."""
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        for c in cells:
            if "save_figure(" in "".join(c["source"]):
                images = [o for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
                assert images, f"{nb.name}: a cell saves a figure but shows none"


def test_the_readme_layout_names_every_module_and_test():
    """README's Layout is the map of the code: every module of duolab (by its file's name), every
    part's folder and every test file appear there, in backquotes."""
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout"):]
    named = set(re.findall(r"`([\w/.]+)`", layout))
    modules = {p.stem for p in (ROOT / "duolab").rglob("*.py") if p.stem != "__init__"}
    folders = {f"{p.name}/" for p in (ROOT / "duolab").iterdir() if (p / "__init__.py").exists()}
    tests = {p.stem for p in (ROOT / "tests").glob("*.py") if p.stem != "__init__"}
    assert not modules - named, f"modules missing from README's Layout: {sorted(modules - named)}"
    assert not folders - named, f"parts missing from README's Layout: {sorted(folders - named)}"
    assert not tests - named, f"tests missing from README's Layout: {sorted(tests - named)}"
