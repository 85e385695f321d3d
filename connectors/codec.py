"""Encoding of typed values in Modbus registers (big-endian bytes in each register).

word order "big": the first register holds the most significant word (ABCD);
word order "little": the first register holds the least significant word (CDAB).
"""
from __future__ import annotations

import enum
import struct


class DataType(str, enum.Enum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    FLOAT32 = "float32"
    FLOAT64 = "float64"  # OPC UA Double; not a Modbus register type here


class WordOrder(str, enum.Enum):
    BIG = "big"
    LITTLE = "little"


_STRUCT = {DataType.INT16: "h", DataType.UINT16: "H", DataType.INT32: "i", DataType.FLOAT32: "f"}
REGISTER_COUNT = {DataType.INT16: 1, DataType.UINT16: 1, DataType.INT32: 2, DataType.FLOAT32: 2}


def register_count(data_type: DataType) -> int:
    try:
        return REGISTER_COUNT[data_type]
    except KeyError:
        raise ValueError(f"data type {data_type.value} is not stored in Modbus registers") from None


def encode(value: float | int, data_type: DataType, word_order: WordOrder = WordOrder.BIG) -> list[int]:
    """Value -> registers. Integers must be whole and in range (struct.error otherwise)."""
    fmt = _STRUCT.get(data_type)
    if fmt is None:
        raise ValueError(f"data type {data_type.value} is not stored in Modbus registers")
    if fmt != "f":
        if float(value) != int(value):
            raise ValueError(f"{value!r} is not a whole number for {data_type.value}")
        value = int(value)
    else:
        value = float(value)
    raw = struct.pack(">" + fmt, value)
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    if word_order is WordOrder.LITTLE:
        words.reverse()
    return words


def decode(registers: list[int], data_type: DataType, word_order: WordOrder = WordOrder.BIG) -> float | int:
    fmt = _STRUCT.get(data_type)
    if fmt is None:
        raise ValueError(f"data type {data_type.value} is not stored in Modbus registers")
    words = list(registers[: REGISTER_COUNT[data_type]])
    if len(words) != REGISTER_COUNT[data_type]:
        raise ValueError(f"{data_type.value} needs {REGISTER_COUNT[data_type]} registers, got {len(words)}")
    if word_order is WordOrder.LITTLE:
        words.reverse()
    raw = b"".join(int(w).to_bytes(2, "big") for w in words)
    (value,) = struct.unpack(">" + fmt, raw)
    return value  # type: ignore[no-any-return]


def roundtrip(value: float | int, data_type: DataType) -> float | int:
    """The value as the device will hold it (float32 precision, integer)."""
    if data_type in _STRUCT:
        return decode(encode(value, data_type), data_type)
    if data_type is DataType.BOOL:
        return bool(value)
    return float(value)
