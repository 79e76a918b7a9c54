"""The code's shape: imports only look down the layers, never in a circle, and no module grows huge.

Data flows one way: photos -> faces -> timeline -> frames -> video. `LAYERS`
lists the layers from the bottom up, each with the modules that belong to it
(a module belongs to the layer of its longest listed prefix). A module may
import its own layer or any layer below it; the two front ends (CLI and
webapp) sit side by side on top and never import each other. The import graph
is read from the source with `ast` (nothing is imported), every import
counted, including those inside functions: a deferred import upward is still a
dependency upward.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. A layer may import itself and the layers before it.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "basics",
        [
            "pipeline",
            "pipeline.types",
            "pipeline.codes",
            "pipeline.errors",
            "pipeline.progress",
            "pipeline.sizes",
            "pipeline.allocator",
            "pipeline.crop_store",
        ],
    ),
    # Credits are the photos' attribution: written by the search, the CLI and the webapp alike.
    (
        "photos and dates",
        [
            "pipeline.photos",
            "pipeline.dates",
            "pipeline.duplicates",
            "pipeline.credits",
            "pipeline.search",
        ],
    ),
    (
        "faces",
        [
            "pipeline.models",
            "pipeline.faces",
            "pipeline.age",
            "pipeline.identity",
            "pipeline.matte",
            "pipeline.matte_edges",
        ],
    ),
    (
        "analysis and timeline",
        [
            "pipeline.analysis",
            "pipeline.scan",
            "pipeline.scan_cache",
            "pipeline.timeline",
            "pipeline.likeness",
            "pipeline.edits",
            "pipeline.selection",
            "pipeline.face_crops",
        ],
    ),
    ("encoding", ["pipeline.render.encode"]),
    ("methods", ["pipeline.methods"]),
    ("rendering", ["pipeline.render"]),
    # The pipeline object: analyse, then render; the front ends' one entry.
    ("pipeline object", ["pipeline.timelapse"]),
    ("cli", ["pipeline.cli", "pipeline.commands", "pipeline.__main__"]),
    ("webapp", ["pipeline.webapp", "app"]),
]
# Layers on one level: neither may import the other.
SIDE_BY_SIDE = {frozenset({"cli", "webapp"})}
MAX_LINES = {"pipeline": 450, "app.py": 300}


def _rank(layer: str) -> int:
    """Height of a layer; side-by-side layers share the height of the lower one."""
    names = [name for name, _ in LAYERS]
    rank = names.index(layer)
    for pair in SIDE_BY_SIDE:
        if layer in pair:
            rank = min(names.index(other) for other in pair)
    return rank


def _module_files() -> dict[str, Path]:
    """Every module of `pipeline/` and `app.py`, by dotted name."""
    found = {"app": ROOT / "app.py"}
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _module_files()


def layer_of(module: str) -> str | None:
    """The layer of `module`: that of its longest listed prefix (None when no layer lists it)."""
    best: tuple[int, str] | None = None
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            # The package itself (`pipeline/__init__.py`) is listed alone, not as a prefix.
            listed = module == prefix or (prefix != "pipeline" and module.startswith(prefix + "."))
            if listed and (best is None or len(prefix) > best[0]):
                best = (len(prefix), layer)
    return best[1] if best else None


def _resolve(name: str) -> str | None:
    """The project module that importing `name` loads (a submodule if it is one), else None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported project module, line, runs at import time) for each import in `path`.

    Imports under ``if TYPE_CHECKING:`` never run: they count for the layers
    (a type from above is a dependency upward) but cannot close a circle.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pipeline import faces` loads the submodule pipeline.faces.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                out.append((target, node.lineno, id(node) not in typing_only))
    return out


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, f"add these modules to a layer in LAYERS: {missing}"


def test_imports_only_look_down() -> None:
    wrong = []
    for module, imports in GRAPH.items():
        mine = layer_of(module)
        if mine is None:
            continue
        for target, line, _ in imports:
            theirs = layer_of(target)
            if theirs is None or theirs == mine:
                continue
            upward = _rank(theirs) > _rank(mine)
            beside = frozenset({mine, theirs}) in SIDE_BY_SIDE
            if upward or beside:
                wrong.append(
                    f"{MODULES[module].relative_to(ROOT)}:{line}: {module} ({mine}) imports {target} ({theirs})"
                )
    assert not wrong, "imports that point up or across the layers:\n" + "\n".join(
        sorted(set(wrong))
    )


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                group.append(item)
                if item == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_circular_imports() -> None:
    edges = {
        module: {target for target, _, runs in imports if runs} for module, imports in GRAPH.items()
    }
    assert not _cycles(edges), (
        f"modules that import each other (directly or round a circle): {_cycles(edges)}"
    )


def test_cycle_finder_finds_cycles() -> None:
    """The checks above would pass vacuously if the graph reader or the cycle finder were broken."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert ("pipeline.render.plan", True) in {
        (t, runs) for t, _, runs in GRAPH["pipeline.render.orchestrator"]
    }
    assert ("pipeline.search.fetch", False) in {
        (t, runs) for t, _, runs in GRAPH["pipeline.search.errors"]
    }
    assert (
        layer_of("pipeline.render.encode") == "encoding"
        and layer_of("pipeline.render.plan") == "rendering"
    )
    assert layer_of("pipeline") == "basics" and layer_of("pipeline.unlisted") is None
    assert _rank("webapp") == _rank("cli") > _rank("rendering") > _rank("methods") > _rank("faces")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    path = MODULES[module]
    limit = MAX_LINES["app.py" if module == "app" else "pipeline"]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= limit, (
        f"{path.relative_to(ROOT)} has {lines} lines (at most {limit}): split it by job"
    )
