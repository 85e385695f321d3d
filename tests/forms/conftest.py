from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from forms import CapturedValue

DISPENSE = {
    "type": "object",
    "title": "Dispense",
    "required": ["lot", "gross", "tare", "net"],
    "properties": {
        "lot": {"type": "string", "title": "Lot", "minLength": 3, "description": "Material lot code"},
        "gross": {"type": "number", "title": "Gross weight", "x-gmp-unit": "kg", "x-gmp-equipment-tag": "BAL-01.gross"},
        "tare": {"type": "number", "title": "Tare", "minimum": 0, "x-gmp-unit": "kg", "x-gmp-critical": True},
        "net": {"type": "number", "title": "Net weight", "x-gmp-unit": "kg", "x-gmp-calculated": "gross - tare",
                "x-gmp-limits": {"min": 9.5, "max": 10.5}},
        "clean": {"type": "boolean", "title": "Line clean"},
        "status": {"type": "string", "enum": ["ok", "hold"]},
        "note": {"type": "string", "maxLength": 20},
    },
}
UI = {"ui:order": ["lot", "gross", "tare", "net", "*"], "note": {"ui:widget": "textarea", "ui:help": "Free text"}}
AT = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def schema() -> dict:
    return copy.deepcopy(DISPENSE)


@pytest.fixture
def ui() -> dict:
    return copy.deepcopy(UI)


def capture(value: float = 12.1, tag: str = "BAL-01.gross", unit: str | None = "kg", stable: bool | None = True) -> dict:
    return {"gross": CapturedValue(tag=tag, value=value, captured_at=AT, unit=unit, stable=stable)}
