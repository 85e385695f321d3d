"""The signing and verification paths encode with `records.canonical_json` and hash
`SimpleRecord` content through a fast path: both must give exactly the bytes of the
audit package's canonical encoding (`audit.canonical`), or stored messages would change."""
from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from audit.canonical import canonical_bytes, dumps, jsonable
from signatures.records import SimpleRecord, canonical_json


class Colour(enum.Enum):
    RED = "red"


DOCUMENTS = [
    {},
    {"v": 1, "seq": 17, "record_type": "batch_record", "record_id": "B-2026-001", "record_version": 3,
     "printed_name": "Zhang Wei 张伟", "reason": None, "components": '{"ceremony":"no_session"}'},
    {"b": True, "a": False, "n": -0, "big": 2 ** 70, "text": "line\nbreak \"quoted\" \\ \u2028 \x00"},
    {"nested": {"z": [1, 2, {"y": None}], "a": "é"}, "list": [], "float": 1.5},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_canonical_json_is_the_audit_encoding(document):
    assert canonical_json(document) == canonical_bytes(document)


@pytest.mark.parametrize("content", DOCUMENTS + [
    {"when": datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc), "day": date(2026, 1, 5)},
    {"amount": Decimal("1.10"), "colour": Colour.RED, "raw": b"\x00\x01", "tags": {"b", "a"}},
    {"nan": float("nan"), "inf": float("inf")},
    {1: "integer key", "x": (1, 2)},
])
def test_simple_record_content_is_jsonable_then_canonical(content):
    record = SimpleRecord("deviation", "D-1", 1, content)
    assert record.canonical_content() == dumps(jsonable(dict(content))).encode("utf-8")


def test_canonical_json_refuses_what_the_audit_encoding_refuses():
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        canonical_json({"x": float("nan")})
