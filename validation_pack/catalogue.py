"""The requirements catalogue: user requirements (URS-*) tracing to regulatory IDs.

validation_pack/regulatory.yaml   regulatory statements (P11-*, A11-*, CN-*, ALCOA-*)
validation_pack/requirements/*.yaml  user requirements, one file per area:
    - id: URS-AUD-001
      text: ...
      serves: [P11-10e, A11-9]
      design: [audit/chain.py]
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    id: str
    text: str
    serves: tuple[str, ...]
    design: tuple[str, ...]
    area: str


@lru_cache(maxsize=1)
def regulatory() -> dict[str, str]:
    items = yaml.safe_load((HERE / "regulatory.yaml").read_text(encoding="utf-8"))
    return {item["id"]: item["text"] for item in items}


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
            found[rid] = Requirement(rid, item["text"], serves, tuple(item.get("design") or ()), path.stem)
    return found


def known_ids() -> set[str]:
    return set(regulatory()) | set(requirements())
