"""The requirements catalogue: user requirements (URS-*) tracing to regulatory IDs.

validation_pack/regulatory.yaml   regulatory statements (P11-*, A11-*, CN-*, ALCOA-*)
validation_pack/requirements/*.yaml  user requirements, one file per area:
    - id: URS-AUD-001
      text: ...
      serves: [P11-10e, A11-9]
      risk: {severity: H, probability: M, detectability: L}
      design: [audit/chain.py]

Risk follows GAMP 5 (second edition, appendix M3): severity (impact on patient safety,
product quality and data integrity) and probability of the failure give the risk class
(1 highest); the class and the detectability give the risk priority (high, medium, low).
The priority sets the test rigour (Computer Software Assurance): high needs a scripted OQ
test with recorded evidence, medium an automated OQ test, low any recorded test.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

LEVELS = ("H", "M", "L")
# severity -> probability -> risk class (1 = highest)
RISK_CLASS = {"H": {"H": 1, "M": 1, "L": 2}, "M": {"H": 1, "M": 2, "L": 3}, "L": {"H": 2, "M": 3, "L": 3}}
# risk class -> detectability -> priority
RISK_PRIORITY = {1: {"L": "high", "M": "high", "H": "medium"},
                 2: {"L": "high", "M": "medium", "H": "low"},
                 3: {"L": "medium", "M": "low", "H": "low"}}
RIGOUR = {"high": "scripted OQ test with recorded steps and evidence",
          "medium": "automated OQ test, its result as evidence",
          "low": "any recorded test"}


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Risk:
    severity: str
    probability: str
    detectability: str

    @property
    def risk_class(self) -> int:
        return RISK_CLASS[self.severity][self.probability]

    @property
    def priority(self) -> str:
        return RISK_PRIORITY[self.risk_class][self.detectability]

    def as_dict(self) -> dict[str, object]:
        return {"severity": self.severity, "probability": self.probability, "detectability": self.detectability,
                "risk_class": self.risk_class, "priority": self.priority}


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    serves: tuple[str, ...]
    design: tuple[str, ...]
    area: str
    risk: Risk | None = None

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "text": self.text, "serves": list(self.serves), "design": list(self.design),
                "area": self.area, "risk": self.risk.as_dict() if self.risk else None}


@dataclass(frozen=True)
class Regulation:
    id: str
    source: str
    text: str


def _risk(path: Path, rid: str, value: object) -> Risk | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"severity", "probability", "detectability"}:
        raise CatalogueError(f"{path.name}: {rid}: risk must be {{severity: H|M|L, probability: H|M|L, "
                             f"detectability: H|M|L}}, found {value!r}")
    levels = {key: str(value[key]).upper()[:1] for key in value}
    bad = {key: value[key] for key in value if levels[key] not in LEVELS or str(value[key]).upper() not in
           (levels[key], {"H": "HIGH", "M": "MEDIUM", "L": "LOW"}[levels[key]])}
    if bad:
        raise CatalogueError(f"{path.name}: {rid}: risk levels must be H, M or L, found {bad!r}")
    return Risk(levels["severity"], levels["probability"], levels["detectability"])


@lru_cache(maxsize=1)
def regulations() -> dict[str, Regulation]:
    items = yaml.safe_load((HERE / "regulatory.yaml").read_text(encoding="utf-8"))
    return {item["id"]: Regulation(item["id"], item.get("source", ""), item["text"]) for item in items}


def regulatory() -> dict[str, str]:
    return {rid: reg.text for rid, reg in regulations().items()}


@lru_cache(maxsize=1)
def requirements() -> dict[str, Requirement]:
    regs = regulatory()
    found: dict[str, Requirement] = {}
    for path in sorted((HERE / "requirements").glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            rid = item.get("id")
            if not rid or not str(rid).startswith("URS-"):
                raise CatalogueError(f"{path.name}: requirement without a URS- id: {item!r}")
            if rid in found:
                raise CatalogueError(f"{path.name}: duplicate requirement id {rid}")
            serves = tuple(item.get("serves") or ())
            unknown = [s for s in serves if s not in regs]
            if unknown:
                raise CatalogueError(f"{path.name}: {rid} serves unknown regulatory ids {unknown}")
            found[rid] = Requirement(rid, item["text"], serves, tuple(item.get("design") or ()), path.stem,
                                     _risk(path, rid, item.get("risk")))
    return found


def known_ids() -> set[str]:
    return set(regulatory()) | set(requirements())


def served_by() -> dict[str, list[str]]:
    """Regulatory ID -> the user requirements that serve it (empty list: a gap)."""
    result: dict[str, list[str]] = {rid: [] for rid in regulatory()}
    for req in requirements().values():
        for rid in req.serves:
            result[rid].append(req.id)
    return result
