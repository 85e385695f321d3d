"""Design qualification content, drawn from the code itself.

- the architecture: each top-level package with its documented floor and role (the floors
  block of docs/dev/conventions.md), its modules and lines, and the packages it actually
  imports (read from the code with `ast`); an import that runs up a floor is listed;
- each requirement with the design elements that meet it (existing or not yet built);
- the supplier (the open-source project, release, licence, change control);
- the GAMP 5 risk assessment per requirement.
"""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT
from validation_pack import manifest
from validation_pack.catalogue import RIGOUR, requirements

PACKAGES = ["core", "store", "forms", "audit", "signatures", "masterdata", "engine", "notifications", "connectors",
            "validation_pack", "bpmn", "web", "app", "cli"]
SAME_FLOOR = [{"forms", "audit"}]


def documented_floors(root: Path = PROJECT_ROOT) -> list[dict[str, str]]:
    """The floors block of docs/dev/conventions.md, top floor first: [{packages, rule}]."""
    text = (root / "docs" / "dev" / "conventions.md").read_text(encoding="utf-8")
    block = re.search(r"## Floors.*?```\n(.*?)```", text, re.S)
    floors = []
    for line in (block.group(1) if block else "").splitlines():
        if not line.strip():
            continue
        names, _, rule = line.partition("  ")
        floors.append({"packages": names.strip(), "rule": rule.strip()})
    return floors


def _modules(root: Path, package: str) -> list[Path]:
    single = root / f"{package}.py"
    if single.exists():
        return [single]
    folder = root / package
    return [p for p in sorted(folder.rglob("*.py")) if "migrations" not in p.parts] if folder.is_dir() else []


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and ast.unparse(node.func).endswith(("import_module", "optional_module")):
            found.add(node.args[0].value.split(".")[0])
    return found


def architecture(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    rank = {name: i for i, name in enumerate(PACKAGES)}
    packages = []
    upward = []
    for name in PACKAGES:
        modules = _modules(root, name)
        if not modules:
            packages.append({"package": name, "modules": 0, "lines": 0, "imports": [], "present": False, "doc": ""})
            continue
        imports: set[str] = set()
        for module in modules:
            imports |= _imports(module)
        internal = sorted((imports & set(PACKAGES)) - {name}, key=rank.__getitem__)
        for target in internal:
            if rank[target] > rank[name] and {name, target} not in SAME_FLOOR:
                upward.append(f"{name} -> {target}")
        init = root / name / "__init__.py" if (root / name).is_dir() else root / f"{name}.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) if init.exists() else None
        packages.append({"package": name, "modules": len(modules), "present": True,
                         "lines": sum(len(m.read_text(encoding="utf-8").splitlines()) for m in modules),
                         "imports": internal, "doc": (doc or "").split("\n\n")[0].replace("\n", " ")})
    return {"floors": documented_floors(root), "packages": packages, "upward_imports": upward}


def supplier(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    licence = project.get("license", {})
    prov = manifest.provenance(root)
    return {
        "product": project["name"], "description": project.get("description", ""), "release": project["version"],
        "licence": licence.get("text") if isinstance(licence, dict) else str(licence),
        "commit": prov.get("commit"), "modified_files": prov.get("dirty"),
        "supplier": "open-source project (GAMP 5 category 4/5: configured product with custom processes); the "
                    "source, the tests and this pack's generator are public and can be audited by the regulated user",
        "change_control": "every change is a reviewed commit; the whole test suite runs on SQLite and PostgreSQL "
                          "with the browser journeys before a change lands; schema changes are new forward-only "
                          "migrations; process definitions, tags and signing rules change in the product under "
                          "approval by a second person with an electronic signature; each release ships a file "
                          "manifest checked by the IQ, and re-validation starts from `gmp validation-pack diff`",
    }


def design_qualification(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    reqs = []
    for req in sorted(requirements().values(), key=lambda r: r.id):
        reqs.append({**req.as_dict(), "design_elements": [{"path": p, "exists": (root / p).exists()} for p in req.design],
                     "rigour": RIGOUR[req.risk.priority] if req.risk else "risk not assessed"})
    return {"architecture": architecture(root), "supplier": supplier(root), "requirements": reqs,
            "system": SYSTEM_DESCRIPTION}


SYSTEM_DESCRIPTION = (
    "An open-source, compliance-first workflow engine for pharmaceutical GMP work. Every GMP process is an "
    "executable BPMN diagram run on SpiffWorkflow under change control; operators complete server-validated "
    "JSON-Schema task forms with values read from equipment over Modbus TCP and OPC UA; steps are signed with "
    "21 CFR Part 11 electronic signatures (per-user Ed25519 keys, server countersignature, bound to the record's "
    "content hash); every change lands in a hash-chained, append-only audit trail with signed checkpoints that "
    "anyone can verify; records print as PDF/A and export as JSON. The web application serves operators, QA, "
    "auditors, administrators and validation in English and Simplified Chinese. Data lives in PostgreSQL "
    "(or SQLite for a single workstation).")
