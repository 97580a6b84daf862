"""Print the import graph of the duolab package, its layers, and any import circle or import that
runs back up from one part of the package to a part above it.

    python -m tests.import_graph                # duolab/
    python -m tests.import_graph path/to/pkg    # any package folder

Every module of the package is parsed with `ast` (nothing is imported), including imports inside
functions, which are marked with `*` in the listing: a function-level import that only dodges a
circle is still a circle. Imports under `if TYPE_CHECKING:` never run and are left out. An
import of `pkg.mod` is an edge to `pkg.mod` only (not to the package's __init__, which Python
runs first for every submodule). Prints one line per module, `module -> imported modules`, then
either "no import circles" or each circle found, and every import of a forbidden top-level
package (`recipe`, the model-building recipe, which the runtime package must not need).
Then the layers: a module that imports nothing of the package is on layer 1, any other one
layer above the highest it imports. The package's parts (PARTS: runners, the core, methods,
predict (the pure timing model), measure, the entry point, lab) are ordered; an import from a part
into a later one runs back up.
Exit status 1 on a circle, an import back up or a forbidden import.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("recipe",)
# duolab's parts from the bottom up, each with the modules (and packages) it holds; the core is
# every other module of duolab, the face is duolab/__init__; a part imports only parts below it
PARTS = (("runners", ("duolab.runners",)),
         ("core", ()),
         ("methods", ("duolab.methods",)),
         ("predict", ("duolab.predict",)),
         ("measure", ("duolab.measure",)),
         ("entry point", ("duolab.generation",)),
         ("lab", ("duolab.lab",)),
         ("face", ()))
CORE = 1


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, module: str, is_package: bool):
    """(imported dotted name, line, inside a function, the `from` base or None) for every import
    that can run."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit(ast.Module(body=[sub], type_ignores=[]), in_function)
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function, None) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolve against this module's package
                    parts = module.split(".")
                    parts = parts if is_package else parts[:-1]
                    parts = parts[:len(parts) - (child.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                # `from pkg import name`: name may be a submodule; keep both, resolved later
                found.extend((f"{base}.{a.name}", child.lineno, in_function, base) for a in child.names)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.Lambda)))

    visit(tree, False)
    return found


def _module_name(pkg: str, package_dir: Path, path: Path) -> str:
    parts = [pkg, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def build_graph(package_dir: Path) -> tuple[dict[str, dict[str, bool]], dict[str, list[str]]]:
    """({module: {imported module of the package: only inside functions}},
    {module: [forbidden imports, with line numbers]}) for a package folder and its sub-packages."""
    package_dir = Path(package_dir).resolve()
    pkg = package_dir.name
    files = {_module_name(pkg, package_dir, p): p for p in sorted(package_dir.rglob("*.py"))}
    graph: dict[str, dict[str, bool]] = {}
    forbidden: dict[str, list[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: dict[str, bool] = {}
        for name, line, in_function, base in _imports(tree, module, path.stem == "__init__"):
            if base is not None and name not in files:  # `from base import name`, not a module
                name = base
            top = name.split(".")[0]
            if top in FORBIDDEN:
                forbidden.setdefault(module, []).append(f"{name} (line {line})")
            while name and name not in files:  # `import pkg.mod.attr` -> pkg.mod
                name = name.rpartition(".")[0]
            if name and name != module:
                edges[name] = edges.get(name, True) and in_function
        graph[module] = edges
    return graph, forbidden


def find_circles(graph: dict[str, dict[str, bool]]) -> list[list[str]]:
    """One circle (a list of modules, first == last) per strongly connected component that has
    more than one module (Tarjan's algorithm, then a shortest way back within the component)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)

    circles = []
    for comp in components:
        start, members = comp[0], set(comp)
        # breadth-first from start's successors back to start, inside the component
        prev: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in prev:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w in members and w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [start]
        while True:
            path.append(prev[path[-1]])
            if path[-1] == start:
                break
        circles.append(path[::-1])
    return circles


def layers(graph: dict[str, dict[str, bool]]) -> dict[str, int]:
    """Each module's layer: 1 when it imports nothing of the package, else one above the highest
    module it imports (the graph must have no circles)."""
    found: dict[str, int] = {}

    def layer(m: str) -> int:
        if m not in found:
            found[m] = 1 + max((layer(t) for t in graph[m]), default=0)
        return found[m]

    for m in graph:
        layer(m)
    return found


def part_of(module: str, parts=PARTS) -> int:
    """Index in `parts` of the part the module belongs to (the core: every module no other part
    names; the face: duolab/__init__); -1 outside duolab."""
    if module == "duolab":
        return len(parts) - 1
    for i, (_, names) in enumerate(parts):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return CORE if module.startswith("duolab.") else -1


def imports_back_up(graph: dict[str, dict[str, bool]]) -> list[tuple[str, str]]:
    """(importer, imported) where the imported module's part is above the importer's."""
    return [(m, t) for m in sorted(graph) for t in sorted(graph[m]) if part_of(t) > part_of(m)]


def part_picture(graph: dict[str, dict[str, bool]], parts=PARTS) -> list[str]:
    """The folder picture: each part, bottom up, with its modules' count and files, and the parts
    it imports from."""
    names = [name for name, _ in parts]
    members: dict[int, list[str]] = {}
    for m in graph:
        members.setdefault(part_of(m, parts), []).append(m)
    lines = []
    for i, name in enumerate(names):
        mods = sorted(members.get(i, []))
        uses = sorted({part_of(t, parts) for m in mods for t in graph[m]} - {i})
        arrow = f" -> {', '.join(names[j] for j in uses)}" if uses else ""
        short = ", ".join(m.rpartition(".")[2] if m != "duolab" else "duolab/__init__" for m in mods)
        lines.append(f"{i + 1}. {name:11s} {len(mods):2d} modules{arrow}")
        lines.append(f"   {short}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("package", nargs="?", default=str(ROOT / "duolab"), help="package folder")
    args = ap.parse_args(argv)
    graph, forbidden = build_graph(Path(args.package))
    for module in sorted(graph):
        targets = ", ".join(f"{m}{'*' if only_fn else ''}" for m, only_fn in sorted(graph[module].items()))
        print(f"{module} -> {targets}" if targets else f"{module}")
    print("(* imported only inside functions)")
    circles = find_circles(graph)
    if circles:
        for c in circles:
            print("import circle: " + " -> ".join(c))
    else:
        print("no import circles")
    for module, names in sorted(forbidden.items()):
        print(f"forbidden import in {module}: {', '.join(names)}")
    if circles:
        return 1
    up = imports_back_up(graph) if Path(args.package).resolve().name == "duolab" else []
    for importer, imported in up:
        print(f"import back up: {importer} -> {imported}")
    floor = layers(graph)
    print(f"{len(graph)} modules on {max(floor.values(), default=0)} layers, "
          f"{sum(len(e) for e in graph.values())} imports, {len(up)} back up")
    for m in sorted(graph, key=lambda m: (-floor[m], m)):
        print(f"layer {floor[m]:2d}  {m}")
    if Path(args.package).resolve().name == "duolab":
        print("parts, bottom up (-> the parts each imports from):")
        print("\n".join(part_picture(graph)))
    return 1 if forbidden or up else 0


if __name__ == "__main__":
    sys.exit(main())
