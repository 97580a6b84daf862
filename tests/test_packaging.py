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


def test_notebooks_are_committed_without_outputs():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for nb in notebooks:
        cells = json.loads(nb.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{nb.name} has outputs committed"
                assert cell.get("execution_count") is None, f"{nb.name} has execution counts"
