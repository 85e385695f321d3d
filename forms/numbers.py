"""Exact numbers: every form number is a ``Decimal`` from the keyboard to the printed record.

A person types ``10.1``; the task data, the signed record, the audit entry and the PDF
all say ``10.1`` (never ``10.099999999999999``). Limits and JSON Schema bounds are read as
the decimals their author wrote, so comparisons are exact.

    parse_decimal("10.10") -> Decimal("10.10")        # plain notation only; None if not a number
    to_decimal(10.1) -> Decimal("10.1")               # a float means the digits of its shortest repr
    reading_decimal(10.100000381469727) -> Decimal("10.1")   # a float32 reading from a device
    format_decimal(Decimal("1E-7")) -> "0.0000001"    # plain notation for display and print
    decimal_schema(schema)                            # floats in a JSON Schema as Decimals
"""
from __future__ import annotations

import math
import re
import struct
from decimal import Decimal, InvalidOperation
from typing import Any

_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
MAX_DIGITS = 40
"""Longest number a form accepts (digits and point), far above any measurement's resolution."""


def parse_decimal(text: str) -> Decimal | None:
    """The number a person typed, or None when it is not a plain decimal (no exponent, no NaN)."""
    text = text.strip()
    if len(text) > MAX_DIGITS + 2 or not _PLAIN.fullmatch(text):
        return None
    return Decimal(text)


def to_decimal(value: Any) -> Decimal | None:
    """A JSON or Python number as an exact decimal; None for anything else (bool, text, NaN, infinity)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    return None


def reading_decimal(value: Any) -> Decimal | None:
    """An equipment reading as a decimal: a float that is exactly a 32-bit float (what a
    Modbus or OPC UA Float register holds) is read as the shortest decimal that gives that
    float32, so a balance's 10.1 is 10.1, not 10.100000381469727."""
    if isinstance(value, float) and math.isfinite(value):
        try:
            single = struct.unpack(">f", struct.pack(">f", value))[0]
        except OverflowError:
            single = None
        if single == value:
            for digits in range(1, 10):
                text = f"{value:.{digits}g}"
                if struct.unpack(">f", struct.pack(">f", float(text)))[0] == value:
                    return Decimal(text) if "e" not in text else Decimal(repr(float(text)))
    return to_decimal(value)


def format_decimal(value: Any) -> str:
    """Plain-notation text of a number as stored (trailing zeros kept: 10.10 stays 10.10)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        text = str(value)
        return format(value, "f") if "E" in text else text
    if isinstance(value, float):
        return format_decimal(to_decimal(value)) if math.isfinite(value) else str(value)
    return str(value)


def decimal_schema(node: Any) -> Any:
    """A copy of a JSON Schema document with every float replaced by the decimal it was written as."""
    if isinstance(node, float):
        return to_decimal(node) if math.isfinite(node) else node
    if isinstance(node, dict):
        return {key: decimal_schema(value) for key, value in node.items()}
    if isinstance(node, list):
        return [decimal_schema(value) for value in node]
    return node


def decimal_places(value: Decimal) -> int:
    """How many digits a decimal has after the point (10.10 -> 2, 10 -> 0)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantize(value: Decimal, places: int) -> Decimal:
    """``value`` with exactly ``places`` decimals, rounding half up (a display resolution)."""
    from decimal import ROUND_HALF_UP

    try:
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return value
