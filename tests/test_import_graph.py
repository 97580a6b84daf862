"""The package's shape: no import circles, no runtime dependency on the recipe, pure model code."""

import subprocess
import sys
from pathlib import Path

import tomllib

from tests import import_graph

ROOT = Path(__file__).resolve().parent.parent
CHECK = [sys.executable, "-m", "tests.import_graph"]

# data and arithmetic only: no models, no generation, no measuring
PURE = ("duolab.predict.budget", "duolab.predict.simulate", "duolab.latency_profile", "duolab.predict.regime",
        "duolab.prompts", "duolab.paths", "duolab.trace")
HEAVY = {"duolab.models", "duolab.generation", "duolab.measure.profiling", "duolab.methods.worker", "duolab.methods.duo"}


def _closure(graph, start):
    seen, todo = set(), [start]
    while todo:
        for m in graph[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def test_duolab_has_no_import_circles():
    out = subprocess.run(CHECK, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no import circles" in out.stdout
    assert "duolab.predict.budget -> " in out.stdout  # the edges are listed
    assert "0 back up" in out.stdout


def test_duolab_never_imports_the_recipe():
    graph, forbidden = import_graph.build_graph(ROOT / "duolab")
    assert forbidden == {}
    assert not any(m.startswith("recipe") for edges in graph.values() for m in edges)
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include == ["duolab*"]


def test_every_part_of_duolab_is_installed():
    """setuptools installs what its package search finds: every folder of duolab with Python files."""
    from setuptools import find_packages

    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "duolab").rglob("*.py")}
    assert set(find_packages(ROOT, include=["duolab*"])) == folders


def test_the_timing_model_is_pure():
    """Every module of duolab.predict, and the core data it reads, import nothing that loads a
    model, runs a decoder or measures."""
    graph, _ = import_graph.build_graph(ROOT / "duolab")
    predict = [m for m in graph if m.startswith("duolab.predict")]
    assert len(predict) >= 6
    for module in [*predict, *PURE]:
        closure = _closure(graph, module)
        assert not closure & HEAVY, module
        assert not {m for m in closure if m.startswith(("duolab.measure", "duolab.lab"))}, module


def test_the_graph_sees_a_circle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pk"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pk.b import f\nimport recipe.tasks\n")
    (pkg / "b.py").write_text("def f():\n    from pk import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pk import a\n")
    graph, forbidden = import_graph.build_graph(pkg)
    assert graph["pk.b"] == {"pk.a": True} and graph["pk.c"] == {}
    assert import_graph.find_circles(graph) == [["pk.a", "pk.b", "pk.a"]]
    assert list(forbidden) == ["pk.a"]
    out = subprocess.run([*CHECK, str(pkg)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1 and "import circle: pk.a -> pk.b -> pk.a" in out.stdout


def test_each_part_imports_only_parts_below_it():
    graph, _ = import_graph.build_graph(ROOT / "duolab")
    assert import_graph.imports_back_up(graph) == []
    assert import_graph.part_of("duolab.methods.duo") < import_graph.part_of("duolab.measure.profiling")
    # a part out of place is seen
    assert import_graph.imports_back_up({"duolab.methods.duo": {"duolab.measure.profiling": False},
                                         "duolab.measure.profiling": {}}) == [
        ("duolab.methods.duo", "duolab.measure.profiling")]


def test_the_decoders_never_measure():
    """No decoder imports the timing model or the measuring: duo gets its profile from its caller."""
    graph, _ = import_graph.build_graph(ROOT / "duolab")
    for module in graph:
        if module.startswith("duolab.methods"):
            assert not {m for m in _closure(graph, module) if m.startswith(("duolab.predict", "duolab.measure"))}, module
