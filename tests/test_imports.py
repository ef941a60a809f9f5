"""The import graph of l1ad's own packages has no cycle.

Every import counts, a late one inside a function as much as one at the top of a module: a late import
that closes a cycle is a concern living in the wrong module (it works only as long as nobody moves the
import up). ``if TYPE_CHECKING:`` blocks are left out (they never run). Importing ``a.b.c`` runs the
``__init__`` of ``a`` and ``a.b`` too, so those are edges as well, except for the importer's own
packages (already being imported when it runs). Read from the source text: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("l1ad", "training", "quantize", "firmware", "reports")


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages (a package is its ``__init__``)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Every dotted name the module imports (``from a import b`` gives ``a.b``; the caller resolves it)."""
    names: list[str] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (directly, or through the packages above them)."""
    modules = project_modules(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for name in _imported_names(tree, module, path.name == "__init__.py"):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                if target in modules and target not in own_packages and target != module:
                    targets.add(target)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found, key=lambda c: (-len(c), c))


def test_graph_finds_a_cycle(tmp_path: Path) -> None:
    """The checker itself: a late import that closes a loop is a cycle; a package importing its own
    submodules is not."""
    pkg = tmp_path / "l1ad"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from l1ad import a\n")
    (pkg / "a.py").write_text("from l1ad.b import g\n")
    (pkg / "b.py").write_text("def g():\n    from l1ad import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from l1ad import a\n")
    graph = import_graph(tmp_path)
    assert graph["l1ad.c"] == set()
    assert cycles(graph) == [["l1ad.a", "l1ad.b"]]


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles between the project's modules:\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


if __name__ == "__main__":
    for component in cycles(import_graph()):
        print(" <-> ".join(component))


# The layers, bottom up: the core (config, errors, files, formats) imports no stage; each stage imports the
# core and the stages below it; the orchestration (pipeline, run directory, cluster, scan, API, command
# line) sits on top. The studies end in report sections, so they sit above reports.
ORCHESTRATION = (
    "l1ad.pipeline",
    "l1ad.rundir",
    "l1ad.cluster",
    "l1ad.scan",
    "l1ad.api",
    "l1ad.cli",
)
STAGES = ("training", "quantize", "firmware", "reports", "training.studies")


def layer(module: str) -> int:
    """0 for the core, 1 + the stage's index for a stage (its deepest matching package), 99 for the
    orchestration."""
    if module in ORCHESTRATION:
        return 99
    rank = 0
    for i, package in enumerate(STAGES):
        if module == package or module.startswith(package + "."):
            rank = i + 1
    return rank


def crossings(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every import of a module from a higher layer than its own."""
    return {(m, t) for m, targets in graph.items() for t in targets if layer(t) > layer(m)}


def test_layer_checker_finds_upward_and_sideways_imports(tmp_path: Path) -> None:
    """The checker itself on synthetic modules: the core importing a stage, a stage importing the
    orchestration or a later stage, are crossings; a stage importing the core or an earlier stage is not."""
    for package in ("l1ad", "training", "firmware", "quantize", "reports"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "l1ad" / "io.py").write_text("from training import data\n")
    (tmp_path / "l1ad" / "pipeline.py").write_text("import firmware.stage\n")
    (tmp_path / "training" / "data.py").write_text("from l1ad import io\n")
    (tmp_path / "training" / "late.py").write_text("def f():\n    from l1ad.pipeline import run\n")
    (tmp_path / "firmware" / "stage.py").write_text("from training import data\nfrom reports import stage\n")
    (tmp_path / "reports" / "stage.py").write_text("")
    assert crossings(import_graph(tmp_path)) == {
        ("l1ad.io", "training"),
        ("l1ad.io", "training.data"),
        ("training.late", "l1ad.pipeline"),
        ("firmware.stage", "reports"),
        ("firmware.stage", "reports.stage"),
    }


def test_imports_go_one_direction() -> None:
    """No module imports a higher layer: the orchestration hands a stage what it needs from above
    (checkpoint folder, task runner) as arguments."""
    found = sorted(crossings(import_graph()))
    assert not found, "imports from a higher layer (see STAGES, ORCHESTRATION):\n" + "\n".join(
        f"{m} -> {t}" for m, t in found
    )
