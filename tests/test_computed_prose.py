"""Lessons cannot drift: no markdown cell of a notebook states a measured number.

A measured number, comparison or ranking is rendered by a code cell from the data it cites
(`IPython.display.Markdown(f"...")`), so a rerun cannot leave the text behind. Markdown keeps
explanation, notation and citations: a number inside `code` or $math$ is an input or a formula,
and the few numbers quoted from papers are listed in CITED with their source.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"))
# A decimal (0.43), a percentage (83 %), or a whole number with a unit of speed or time (3x, 15 s).
MEASURED = re.compile(r"(?<![\w.\-/^])(\d+(?:\.\d+)?\s*(?:%|x\b|×|ms\b|s\b|tokens/s\b)|\d+\.\d+)")
# Numbers quoted from papers (cited where they stand), not measured by this kit.
CITED = {
    "2.61x": "DuoDecoding (arXiv 2503.00784): up to 2.61x over AR",
    "1.58x": "DuoDecoding: mean speedup, Vicuna-7B",
    "2.57x": "DuoDecoding: mean speedup, Llama2-7B",
    "83 %": "DuoDecoding: TTFT at 83 % of SpS's",
}


def stated_numbers(markdown: str) -> list[str]:
    """The measured-looking numbers a markdown text states, outside `code`, $math$ and CITED."""
    text = re.sub(r"`[^`]*`|\$[^$]*\$", " ", markdown)
    for quote in CITED:
        text = text.replace(quote, " ")
    return [m.group(0) for m in MEASURED.finditer(text)]


def markdown_cells(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(k, "".join(c["source"])) for k, c in enumerate(cells) if c["cell_type"] == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_markdown_cell_states_a_measured_number(path):
    typed = {k: found for k, src in markdown_cells(path) if (found := stated_numbers(src))}
    assert not typed, (f"{path.name}: markdown cells state measured numbers {typed}; render them from "
                       "the data in a code cell (IPython.display.Markdown)")


def test_readme_results_state_no_number():
    """The README's results section cites committed tables by name instead of copying numbers."""
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Results\n(.*?)(?=^## )", readme, re.M | re.S)
    assert section, "README.md has no '## Results' section"
    assert not stated_numbers(section.group(1)), stated_numbers(section.group(1))


@pytest.mark.parametrize("text, found", [
    ("duo is 0.86x SpS here", ["0.86x"]),
    ("a TTFT of 81 ms against 33 ms", ["81 ms", "33 ms"]),
    ("PLD reaches 1.33", ["1.33"]),
    ("up to 10 % faster", ["10 %"]),
    ("set `alpha = 0.8` and γ = 4", []),
    ("the paper reports up to 2.61x over AR", []),
    ("$1 - \\alpha^{\\gamma+1}$ over 7 tasks", []),
])
def test_the_rule_sees_typed_numbers(text, found):
    assert stated_numbers(text) == found
