"""The module graph: no import cycles, no import from a lower layer to a higher one, and a worker that needs
neither Hydra nor the report. Read from the source (every `import`, also inside functions), not from
sys.modules, so an import that only runs on some path is checked too. The layers are listed in docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

from harness.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "harness"
# The layers are folders, lowest first. A module may import its own layer and the layers below. The modules at
# the top of harness/ are the core (errors, paths, locks, ...); harness/__main__.py is the app's entry.
LAYERS: list[tuple[str, list[str]]] = [
    ("core", []),
    ("config", ["config"]),
    ("data", ["tasks", "models", "store", "compare", "data"]),
    ("spec", ["spec"]),
    ("api", ["api"]),
    ("stages", ["finetune", "evaluate", "load"]),
    ("plan", ["plan"]),
    ("execute", ["execute"]),
    ("jobs", ["jobs"]),
    ("report", ["report"]),
    ("app", ["app"]),
]
# What a worker in another Python environment must not need.
NOT_IN_WORKER = ("harness.report", "harness.app", "harness.jobs", "harness.plan")
# (jinja2 is allowed: harness.compat renders chat templates with it on transformers < 4.34, as 4.34+ itself does)
NOT_IN_WORKER_PACKAGES = ("hydra", "plotly")


def modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(p.relative_to(REPO_ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


MODULES = modules()


def owner(name: str) -> str:
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(name: str) -> tuple[set[str], set[str]]:
    """(harness modules, top-level third-party packages) one module imports, anywhere in it."""
    ours, theirs = set(), set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            ]
        else:
            continue
        for n in names:
            if n.split(".")[0] == "harness":
                ours.add(owner(n))
            else:
                theirs.add(n.split(".")[0])
    ours.discard(name)
    return ours, theirs


GRAPH = {m: imports(m) for m in MODULES}


def layer(name: str) -> int:
    """A module's layer: the folder it is in (harness/<folder>/...), or core for a module at the top."""
    parts = name.split(".")
    if name == "harness.__main__":
        return len(LAYERS) - 1
    if len(parts) == 1 or MODULES[name].parent == PACKAGE and MODULES[name].name != "__init__.py":
        return 0
    found = [i for i, (_, folders) in enumerate(LAYERS) if parts[1] in folders]
    assert found, f"harness/{parts[1]}/ is in no layer: add it to LAYERS (and to docs/architecture.md)"
    return found[0]


def test_every_folder_of_the_package_is_a_layer():
    folders = {p.parent.relative_to(PACKAGE).parts[0] for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE}
    assert folders == {f for _, fs in LAYERS for f in fs}


def test_every_module_has_a_layer_and_imports_only_its_own_or_lower_layers():
    upward = [
        f"{m} ({LAYERS[layer(m)][0]}) imports {d} ({LAYERS[layer(d)][0]})"
        for m, (deps, _) in GRAPH.items()
        for d in deps
        if layer(d) > layer(m) and not d.startswith(m + ".")  # a package may re-export its own modules
    ]
    assert upward == []


def test_the_module_graph_has_no_cycles():
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(GRAPH[m][0]):
            if state.get(d) == 1:
                cycles.append(path[path.index(d) :] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_worker_needs_neither_hydra_nor_the_report():
    seen, todo = set(), ["harness.execute.entry"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += GRAPH[m][0]
    assert "harness.execute.local" in seen and "harness.evaluate.lmeval" in seen  # the closure is the real one
    assert sorted(m for m in seen if any(m == p or m.startswith(p + ".") for p in NOT_IN_WORKER)) == []
    third_party = set().union(*(GRAPH[m][1] for m in seen))
    assert sorted(third_party & set(NOT_IN_WORKER_PACKAGES)) == []
