"""Layering: floors, no import cycles inside a package, SpiffWorkflow behind one adapter,
nothing registered at import time, no Flask in the core packages.

The import graph counts module-level and function-level imports and constant-string
`importlib.import_module` / `optional_module` / `__import__` calls (skipping
`if TYPE_CHECKING:` blocks), of every product module: app.py, cli.py and every package.
A module that imports by a computed name (a table of targets such as cli.COMMANDS or
store.models.MODEL_MODULES) counts as importing every dotted module name it spells out
("pkg.mod" or "pkg.mod:attribute").
The floors are read from docs/dev/conventions.md, so the document and the check agree.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Collection

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_FLASK = ["core", "store", "audit", "signatures", "engine", "notifications", "connectors", "forms", "validation_pack"]
SKIP = {".venv", "tests", "bench", "node_modules", "build", "test-artifacts", "instance"}
SAME_FLOOR = [{"forms", "audit"}]
PACKAGES = ["core", "store", "forms", "audit", "signatures", "masterdata", "engine", "notifications", "connectors",
            "validation_pack", "bpmn", "web"]
pytestmark = pytest.mark.req("URS-ENG-012")
# Modules allowed to import up the floors, each by name only, and why (docs/dev/conventions.md).
UPWARD_BY_NAME = {"store.models": "load_all() imports every package's models so that the metadata knows every table "
                                  "(migrations, backup, schema comparison)"}
TARGET = re.compile(r"^[A-Za-z_]\w*(\.\w+)*(:\w+)?$")


# ---------------------------------------------------------------- the graph
def product_files(root: Path) -> list[Path]:
    """Every .py file under `root` outside the SKIP folders (never walked into: .venv is large)."""
    found = []
    for folder, subfolders, files in os.walk(root):
        if Path(folder) == root:
            subfolders[:] = [name for name in subfolders if name not in SKIP]
        found += [Path(folder, name) for name in files if name.endswith(".py")]
    return sorted(found)


@lru_cache(maxsize=None)
def parsed(path: Path) -> ast.Module:
    """A file's syntax tree, parsed once per test run (several checks walk the same files)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in product_files(root):
        rel = path.relative_to(root)
        if "migrations" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found[".".join(parts)] = (path, path.name == "__init__.py")
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    known = modules(root)

    def resolve(name: str) -> str:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for me, (path, is_package) in known.items():
        targets: set[str] = set()

        def visit(node: ast.AST) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    for other in child.orelse:
                        visit(other)
                    continue
                if isinstance(child, ast.Import):
                    targets.update(resolve(alias.name) for alias in child.names)
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = me.split(".") if is_package else me.split(".")[:-1]  # noqa: B023
                        base = base[: len(base) - (child.level - 1)]
                        module = ".".join(base + ([child.module] if child.module else []))
                    else:
                        module = child.module or ""
                    targets.update(resolve(f"{module}.{alias.name}") or resolve(module) for alias in child.names)
                elif isinstance(child, ast.Call):
                    func = child.func
                    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                    if called.endswith(("import_module", "optional_module", "__import__")) and child.args:
                        if isinstance(child.args[0], ast.Constant) and isinstance(child.args[0].value, str):
                            targets.add(resolve(child.args[0].value))
                        else:
                            computed.append(child)
                    visit(child)
                else:
                    visit(child)
        computed: list[ast.Call] = []
        visit(parsed(path))
        if computed:  # imports by a computed name: every dotted module name the module spells out
            for node in ast.walk(parsed(path)):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and TARGET.match(node.value):
                    name = node.value.partition(":")[0]
                    if name in known and ("." in name or ":" in node.value):
                        targets.add(name)
        graph[me] = {t for t in targets if t and t != me}
    return graph


def cycles(graph: dict[str, set[str]], package: str) -> list[list[str]]:
    """Strongly connected components of more than one module inside `package` (Tarjan)."""
    sub = {m: {t for t in ts if t.split(".")[0] == package and t != package} for m, ts in graph.items()
           if m.split(".")[0] == package and m != package}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sub.get(node, ()):
            if target not in index:
                strong(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for node in sub:
        if node not in index:
            strong(node)
    return found


def documented_floors() -> list[str]:
    """The floor order stated in docs/dev/conventions.md (the `floors:` line), lowest first."""
    text = (ROOT / "docs" / "dev" / "conventions.md").read_text(encoding="utf-8")
    match = re.search(r"^floors, lowest first: (.+)$", text, re.MULTILINE)
    assert match, "docs/dev/conventions.md states no 'floors, lowest first:' line"
    return [name.strip() for name in match.group(1).split(",")]


def up_a_floor(graph: dict[str, set[str]], floors: list[str], allowed: Collection[str] = tuple(UPWARD_BY_NAME)
               ) -> list[str]:
    rank = {name: i for i, name in enumerate(floors)}
    bad = []
    for module, targets in graph.items():
        if module in allowed:
            continue
        a = module.split(".")[0]
        for target in targets:
            b = target.split(".")[0]
            if a in rank and b in rank and rank[b] > rank[a] and {a, b} not in SAME_FLOOR:
                bad.append(f"{module} -> {target}")
    return sorted(bad)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


# ---------------------------------------------------------------- the checks
def test_the_documented_floors_are_the_ones_checked():
    assert documented_floors() == ["core", "store", "forms", "audit", "signatures", "masterdata", "engine", "notifications",
                                   "connectors", "validation_pack", "bpmn", "web", "app", "cli"]


def test_no_import_runs_up_a_floor(graph):
    assert up_a_floor(graph, documented_floors()) == []


def test_the_modules_allowed_up_by_name_are_few_and_still_need_it(graph):
    """UPWARD_BY_NAME is no blanket: each module in it still imports up a floor, and only models
    modules (every other module of its package is checked as usual)."""
    for module in UPWARD_BY_NAME:
        upward = up_a_floor({module: graph[module]}, documented_floors(), allowed=())
        assert upward, f"{module} no longer imports up a floor: drop it from UPWARD_BY_NAME"
        assert all(edge.split(" -> ")[1].endswith("models") for edge in upward), upward


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_inside_a_package(graph, package):
    assert cycles(graph, package) == []


def test_the_checks_see_cycles_floors_and_string_imports(tmp_path):
    """The graph and the checks above catch what they are meant to (they can fail)."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("from core import b\n")
    (tmp_path / "core" / "b.py").write_text("def f():\n    from core.c import x\n")
    (tmp_path / "core" / "c.py").write_text("import importlib\nx = importlib.import_module('core.a')\n")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "__init__.py").write_text("")
    (tmp_path / "store" / "uow.py").write_text(
        "from core.modules import optional_module\noptional_module('web.views')\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import cli\n")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "__init__.py").write_text("")
    (tmp_path / "web" / "views.py").write_text("")
    (tmp_path / "store" / "db.py").write_text(
        "import importlib\nTARGETS = ['web.forms:page', 'not a module', 'cli']\n"
        "def load():\n    for t in TARGETS:\n        importlib.import_module(t.partition(':')[0])\n")
    (tmp_path / "web" / "forms.py").write_text("")
    (tmp_path / "cli.py").write_text("")
    fake = import_graph(tmp_path)
    assert cycles(fake, "core") == [["core.a", "core.b", "core.c"]]
    assert fake["store.db"] == {"web.forms"}  # the table's dotted target; a bare word is not taken for a module
    assert up_a_floor(fake, documented_floors()) == ["store.db -> web.forms", "store.uow -> web.views"]


def test_only_the_adapter_imports_spiffworkflow(graph):
    offenders = []
    for module, (path, _pkg) in modules(ROOT).items():
        if module.startswith("engine.spiff"):
            continue
        for node in ast.walk(parsed(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{module}: {name}" for name in names if name.split(".")[0] == "SpiffWorkflow"]
    assert offenders == []


def _module_level_registrations(path: Path) -> list[str]:
    tree = parsed(path)
    found = []
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call):
            name = ast.unparse(call.func).rpartition(".")[2]
            if name.startswith(("register", "install", "configure", "on_append", "set_service")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(call)[:80]}")
    return found


def test_nothing_registers_at_import_time():
    offenders = [hit for module, (path, _pkg) in modules(ROOT).items() for hit in _module_level_registrations(path)]
    assert offenders == []


def test_importing_everything_installs_no_runtime():
    """Importing every product module leaves no engine runtime behind: one is built explicitly."""
    names = sorted(m for m in modules(ROOT) if not m.startswith("store.migrations"))
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "from engine.runtime import current_runtime\n"
            "from engine.errors import RuntimeNotInstalled\n"
            "try:\n    current_runtime()\nexcept RuntimeNotInstalled:\n    print('none')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"


def imported_modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


@pytest.mark.parametrize("package", NO_FLASK)
def test_core_packages_do_not_import_flask(package):
    offenders = [f"{p.relative_to(ROOT)}: {m}" for p, m in imported_modules(package)
                 if m.split(".")[0] in ("flask", "flask_babel", "werkzeug")]
    assert offenders == []
