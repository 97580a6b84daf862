"""Every notebook ends with a recap and 2-4 exercises whose checks work both ways.

Each exercise cell (a code cell that starts with "# Exercise NN-k") runs twice, in notebook order,
in one namespace per notebook: first as committed, where its check must reject the placeholder
answer (a check that cannot fail is a defect), then with its answer lines replaced by the block
of the same id in notebooks/solutions/<notebook>.py, where its check must pass. The namespace
starts from what exercise cells may use: `pair` (the shipped pair), the notebook's own definitions
that an exercise names (notebook 01's `draw` and `verify`), torch, and `check`.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest
import torch

from duolab.lab import exercises

NOTEBOOKS = sorted(Path(__file__).resolve().parent.parent.glob("notebooks/[0-9][0-9]_*.ipynb"))
SOLUTIONS = NOTEBOOKS[0].parent / "solutions"
HEADER = re.compile(r"^# Exercise (\d\d-\d+)\s*$", re.M)


def exercise_cells(nb) -> list[tuple[str, str]]:
    """(id, source) of the notebook's exercise cells, in order."""
    out = []
    for cell in nb.cells:
        m = HEADER.match(cell.source) if cell.cell_type == "code" else None
        if m:
            out.append((m.group(1), cell.source))
    return out


def solutions(path: Path) -> dict[str, str]:
    blocks = re.split(r"^# %% (\d\d-\d+)\s*$", path.read_text(), flags=re.M)
    return {blocks[i]: blocks[i + 1].strip("\n") for i in range(1, len(blocks), 2)}


def with_answer(source: str, answer: str) -> str:
    """The cell with everything between its header line and its check(...) call replaced."""
    lines = source.splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith("check("))
    return "\n".join([lines[0], answer, *lines[last:]])


def helper_definitions(nb) -> str:
    """The functions exercises build on (notebook 01's draw and verify), as the notebook defines
    them (the definitions only, not the cells' other statements)."""
    defs = [node for c in nb.cells if c.cell_type == "code" and not HEADER.match(c.source)
            for node in ast.parse(c.source).body
            if isinstance(node, ast.FunctionDef) and node.name in ("draw", "verify")]
    return ast.unparse(ast.Module(body=defs, type_ignores=[]))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_ends_with_a_recap_and_exercises(path):
    nb = nbformat.read(path, as_version=4)
    cells = exercise_cells(nb)
    assert 2 <= len(cells) <= 4, f"{path.name} has {len(cells)} exercises"
    assert all(i.startswith(path.name[:2] + "-") for i, _ in cells)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    recap = re.search(r"^## Recap\n((?:- .*\n(?:  .*\n)*){3,5})", text + "\n", re.M)
    assert recap, f"{path.name} has no recap of 3-5 points"
    assert "## Exercises" in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_checks_reject_placeholders_and_pass_solutions(path):
    nb = nbformat.read(path, as_version=4)
    answers = solutions(SOLUTIONS / f"{path.stem}.py")
    cells = exercise_cells(nb)
    assert sorted(answers) == sorted(i for i, _ in cells), "one solution per exercise, no more"
    ns = {"torch": torch, "check": exercises.check, "pair": exercises.shipped_pair()}
    exec(helper_definitions(nb), ns)
    for ex_id, source in cells:
        exercises.RESULTS.pop(ex_id, None)
        exec(source, ns)
        assert exercises.RESULTS.get(ex_id) is False, f"{ex_id}: the placeholder was not rejected"
        exec(with_answer(source, answers[ex_id]), ns)
        assert exercises.RESULTS.get(ex_id) is True, f"{ex_id}: the solution did not pass"


def test_check_refuses_an_unknown_exercise():
    with pytest.raises(ValueError, match="unknown exercise '99-1'"):
        exercises.check("99-1", 3)
