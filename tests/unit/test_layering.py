"""Floors: the core packages never import Flask, and audit never imports signatures."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NO_FLASK = ["core", "store", "audit", "signatures", "engine", "connectors", "forms", "validation_pack"]


def imported_modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
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


@pytest.mark.parametrize("package,forbidden", [
    ("core", ("store", "audit", "signatures", "engine", "connectors", "forms", "web", "bpmn")),
    ("audit", ("signatures", "engine", "connectors", "forms", "web", "bpmn")),
    ("signatures", ("engine", "connectors", "web", "bpmn")),
    ("forms", ("engine", "connectors", "web", "bpmn", "signatures")),
    ("engine", ("web", "bpmn", "connectors")),
    ("connectors", ("web", "bpmn")),
])
def test_floors(package, forbidden):
    offenders = [f"{p.relative_to(ROOT)}: {m}" for p, m in imported_modules(package)
                 if m.split(".")[0] in forbidden]
    assert offenders == []
