"""The traceability matrix: requirement -> design element -> OQ tests -> latest result.

Gaps are listed, never hidden, both ways:
- a requirement no test cites ("no test");
- a requirement whose tests did not pass in this run ("failed"), or were not executed in
  it ("not run": e.g. a quick OQ, where only one test per requirement runs);
- a high-priority requirement (GAMP 5) not proven by a passing test executed in this run;
- a design element that does not exist in the installed code (not built yet);
- a test that cites no requirement;
- a regulatory statement that no user requirement serves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT
from validation_pack.catalogue import Requirement, regulations, requirements, served_by

STATUS_ORDER = ("passed", "failed", "not run", "no test")


@dataclass
class Row:
    requirement: Requirement
    design: list[dict[str, Any]]
    tests: list[dict[str, Any]] = field(default_factory=list)  # executed: nodeid, outcome
    other_tests: list[str] = field(default_factory=list)  # citing it, not executed in this run
    status: str = "no test"

    def as_dict(self) -> dict[str, Any]:
        return {"requirement": self.requirement.as_dict(), "design": self.design, "tests": self.tests,
                "other_tests": self.other_tests, "status": self.status}


def design_elements(req: Requirement, root: Path = PROJECT_ROOT) -> list[dict[str, Any]]:
    return [{"path": path, "exists": (root / path).exists()} for path in req.design]


def matrix(records: list[dict[str, Any]], inventory: list[dict[str, Any]] | None = None,
           root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The matrix and its gaps from OQ records (and the run's test inventory)."""
    reqs = requirements()
    rows = {rid: Row(req, design_elements(req, root)) for rid, req in reqs.items()}
    executed = set()
    for record in records:
        executed.add(record["nodeid"])
        for rid in record.get("requirements", []):
            if rid in rows:
                rows[rid].tests.append({"nodeid": record["nodeid"], "outcome": record["outcome"]})
    for entry in inventory or []:
        if entry["nodeid"] in executed:
            continue
        for rid in entry.get("requirements", []):
            if rid in rows and entry["nodeid"] not in rows[rid].other_tests:
                rows[rid].other_tests.append(entry["nodeid"])
    for row in rows.values():
        outcomes = {t["outcome"] for t in row.tests}
        if outcomes & {"failed", "error", "skipped"}:
            row.status = "failed"
        elif "passed" in outcomes:
            row.status = "passed"
        elif row.other_tests:
            row.status = "not run"
        else:
            row.status = "no test"

    gaps: list[dict[str, str]] = []
    for row in rows.values():
        rid, priority = row.requirement.id, row.requirement.risk.priority if row.requirement.risk else "unassessed"
        if row.status == "no test":
            gaps.append({"kind": "requirement without test", "id": rid, "priority": priority,
                         "detail": "no test cites this requirement"})
        elif row.status == "failed":
            bad = [t["nodeid"] for t in row.tests if t["outcome"] != "passed"]
            gaps.append({"kind": "requirement with failing test", "id": rid, "priority": priority,
                         "detail": "; ".join(bad)})
        elif row.status == "not run":
            gaps.append({"kind": "requirement not tested in this run", "id": rid, "priority": priority,
                         "detail": f"{len(row.other_tests)} test(s) cite it; none was executed in this run"})
        if row.requirement.risk is None:
            gaps.append({"kind": "requirement without risk assessment", "id": rid, "priority": "unassessed",
                         "detail": "no GAMP 5 severity, probability and detectability"})
        missing = [d["path"] for d in row.design if not d["exists"]]
        if missing:
            gaps.append({"kind": "design element not built", "id": rid, "priority": priority,
                         "detail": ", ".join(missing)})
    untraced = sorted(e["nodeid"] for e in inventory or [] if not e.get("requirements"))
    for nodeid in untraced:
        gaps.append({"kind": "test without requirement", "id": nodeid, "priority": "", "detail": "no req marker"})
    for reg, reqs_serving in served_by().items():
        if not reqs_serving:
            gaps.append({"kind": "regulatory statement not served", "id": reg, "priority": "",
                         "detail": regulations()[reg].text})
    counts = {status: sum(1 for r in rows.values() if r.status == status) for status in STATUS_ORDER}
    high = [r for r in rows.values() if r.requirement.risk and r.requirement.risk.priority == "high"]
    return {
        "rows": [rows[rid].as_dict() for rid in sorted(rows)],
        "gaps": gaps,
        "counts": counts,
        "requirements": len(rows),
        "high_priority": {"total": len(high), "passed": sum(1 for r in high if r.status == "passed")},
        "tests_executed": len(records),
        "tests_without_requirement": len(untraced),
        "regulatory": {reg: sorted(ids) for reg, ids in served_by().items()},
    }
