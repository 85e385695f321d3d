"""Tag definitions (what the registry holds) and readings (what a read returns).

A definition file (YAML or TOML) names its endpoints once and lists the tags:

    endpoints:
      plant-modbus: modbus://127.0.0.1:5020
      plant-opcua: opc.tcp://127.0.0.1:4840/gmp/plant
    tags:
      - name: SCALE-01.net_weight
        equipment_id: SCALE-01
        protocol: modbus
        endpoint: plant-modbus
        modbus: {unit: 1, register_type: input, address: 0, word_order: big}
        data_type: float32
        unit: kg
        access: read
        low: 0
        high: 60
"""
from __future__ import annotations

import enum
import hashlib
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import yaml

from connectors.codec import REGISTER_COUNT, DataType, WordOrder
from connectors.errors import RegistryError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}$")
REGISTER_TYPES = ("holding", "input", "coil", "discrete_input")
BIT_TYPES = ("coil", "discrete_input")


class Protocol(str, enum.Enum):
    MODBUS = "modbus"
    OPCUA = "opcua"


class Access(str, enum.Enum):
    READ = "read"
    READ_WRITE = "read-write"


class Quality(str, enum.Enum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


class Origin(str, enum.Enum):
    """ALCOA 'original': where a value came from."""

    EQUIPMENT = "equipment"
    MANUAL = "manual"


@dataclass(frozen=True)
class TagDefinition:
    name: str
    equipment_id: str
    protocol: Protocol
    endpoint: str
    data_type: DataType
    unit: str
    access: Access = Access.READ
    modbus_unit: int | None = None
    register_type: str | None = None
    address: int | None = None
    word_order: WordOrder = WordOrder.BIG
    node_id: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    low: float | None = None
    high: float | None = None
    description: str = ""

    @property
    def writable(self) -> bool:
        return self.access is Access.READ_WRITE

    def to_engineering(self, raw: float | int | bool) -> float | int | bool:
        if isinstance(raw, bool) or self.data_type is DataType.BOOL:
            return bool(raw)
        if self.scale == 1.0 and self.offset == 0.0:
            return raw
        return float(raw) * self.scale + self.offset

    def to_raw(self, value: float | int | bool) -> float | int | bool:
        if self.data_type is DataType.BOOL:
            return bool(value)
        raw = (float(value) - self.offset) / self.scale
        if self.data_type in (DataType.INT16, DataType.UINT16, DataType.INT32):
            return int(round(raw))
        return raw

    def within_limits(self, value: float | int | bool) -> bool:
        if isinstance(value, bool):
            return True
        if self.low is not None and value < self.low:
            return False
        if self.high is not None and value > self.high:
            return False
        return True

    def limits_text(self) -> str:
        low = "-inf" if self.low is None else self.low
        high = "+inf" if self.high is None else self.high
        return f"[{low}, {high}] {self.unit}".strip()

    def document(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("protocol", "data_type", "access", "word_order"):
            data[key] = data[key].value
        return data

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> "TagDefinition":
        return cls(**{**data, "protocol": Protocol(data["protocol"]), "data_type": DataType(data["data_type"]),
                      "access": Access(data["access"]), "word_order": WordOrder(data["word_order"])})


@dataclass(frozen=True)
class Reading:
    """One value captured from equipment, with everything needed to store it as original data."""

    tag: TagDefinition
    value: float | int | bool
    unit: str
    source_timestamp: datetime
    quality: Quality
    received_at: datetime
    timestamp_origin: str  # "device" (OPC UA source timestamp) or "connector" (Modbus has none)
    revision: int | None = None
    origin: Origin = Origin.EQUIPMENT
    status: str = field(default="Good")

    @property
    def tag_name(self) -> str:
        return self.tag.name

    @property
    def endpoint(self) -> str:
        return self.tag.endpoint

    @property
    def within_limits(self) -> bool:
        return self.tag.within_limits(self.value)


# ---------------------------------------------------------------- definition files
def load_definition_file(path: Path, endpoint_overrides: Mapping[str, str] | None = None
                         ) -> tuple[list[TagDefinition], bytes]:
    """Parse and validate a YAML or TOML definition file. Returns the tags and the raw bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"{path}: cannot be read: {exc.strerror}") from exc
    return parse_definitions(raw, path.name, endpoint_overrides), raw


def parse_definitions(raw: bytes, source_name: str, endpoint_overrides: Mapping[str, str] | None = None
                      ) -> list[TagDefinition]:
    try:
        if source_name.endswith(".toml"):
            document = tomllib.loads(raw.decode("utf-8"))
        elif source_name.endswith((".yaml", ".yml")):
            document = yaml.safe_load(raw.decode("utf-8"))
        else:
            raise RegistryError(f"{source_name}: expected a .yaml, .yml or .toml file")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{source_name}: not valid {source_name.rsplit('.', 1)[-1].upper()}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("tags", []), list) \
            or not (document.get("tags") or document.get("retire")):
        raise RegistryError(f"{source_name}: expected a mapping with a non-empty 'tags' list (or a 'retire' list)")
    endpoints = dict(document.get("endpoints") or {})
    unknown_overrides = set(endpoint_overrides or {}) - set(endpoints)
    if unknown_overrides:
        raise RegistryError(f"{source_name}: endpoint override for unknown endpoint(s) {sorted(unknown_overrides)}")
    endpoints.update(endpoint_overrides or {})
    tags: list[TagDefinition] = []
    seen: set[str] = set()
    for index, item in enumerate(document.get("tags") or [], start=1):
        where = f"{source_name}: tag #{index}"
        if not isinstance(item, dict):
            raise RegistryError(f"{where}: expected a mapping")
        if "name" in item:
            where += f" ({item['name']})"
        tag = _definition(item, endpoints, where)
        if tag.name in seen:
            raise RegistryError(f"{where}: duplicate tag name {tag.name!r}")
        seen.add(tag.name)
        tags.append(tag)
    return tags


def parse_retired(raw: bytes, source_name: str) -> list[str]:
    """The tag names a definition file retires (its optional top-level `retire:` list)."""
    try:
        if source_name.endswith(".toml"):
            document = tomllib.loads(raw.decode("utf-8"))
        else:
            document = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{source_name}: not valid: {exc}") from exc
    names = (document or {}).get("retire") or [] if isinstance(document, dict) else []
    if not isinstance(names, list) or not all(isinstance(n, str) and NAME_RE.match(n) for n in names):
        raise RegistryError(f"{source_name}: 'retire' must be a list of tag names")
    if len(set(names)) != len(names):
        raise RegistryError(f"{source_name}: 'retire' names a tag twice")
    return list(names)


def check_document(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems of one tag given as its stored document (TagDefinition.document()), as (field, message)."""
    item: dict[str, Any] = {k: v for k, v in data.items()
                            if k not in ("modbus_unit", "register_type", "address", "word_order") and v is not None}
    if data.get("protocol") == Protocol.MODBUS.value:
        item["modbus"] = {"unit": data.get("modbus_unit"), "register_type": data.get("register_type"),
                          "address": data.get("address"), "word_order": data.get("word_order") or "big"}
    try:
        tag = _definition(item, {}, f"tag {data.get('name')!r}")
    except RegistryError as exc:
        return [("", str(exc))]
    return [] if tag.name == data.get("name") else [("name", "invalid tag name")]


_KNOWN_KEYS = {"name", "equipment_id", "protocol", "endpoint", "data_type", "unit", "access", "modbus", "node_id",
               "scale", "offset", "low", "high", "description"}


def _definition(item: dict[str, Any], endpoints: Mapping[str, str], where: str) -> TagDefinition:
    extra = set(item) - _KNOWN_KEYS
    if extra:
        raise RegistryError(f"{where}: unknown field(s) {sorted(extra)}")
    for key in ("name", "equipment_id", "protocol", "endpoint", "data_type", "access"):
        if item.get(key) in (None, ""):
            raise RegistryError(f"{where}: missing field {key!r}")
    name = str(item["name"])
    if not NAME_RE.match(name):
        raise RegistryError(f"{where}: invalid tag name {name!r} (letters, digits, '.', '_', '-'; at most 120)")
    protocol = _enum(Protocol, item["protocol"], where, "protocol")
    data_type = _enum(DataType, item["data_type"], where, "data_type")
    access = _enum(Access, item["access"], where, "access")
    endpoint = str(endpoints.get(item["endpoint"], item["endpoint"]))
    low, high = _number(item.get("low"), where, "low"), _number(item.get("high"), where, "high")
    if low is not None and high is not None and low > high:
        raise RegistryError(f"{where}: low limit {low} is above high limit {high}")
    if access is Access.READ_WRITE and (low is None or high is None) and data_type is not DataType.BOOL:
        raise RegistryError(f"{where}: a read-write tag needs 'low' and 'high' (the allowed set-point range)")
    scale = _number(item.get("scale", 1.0), where, "scale")
    if scale in (None, 0.0):
        raise RegistryError(f"{where}: scale must be a non-zero number")
    kwargs: dict[str, Any] = {}
    if protocol is Protocol.MODBUS:
        if not endpoint.startswith("modbus://"):
            raise RegistryError(f"{where}: a Modbus endpoint looks like modbus://HOST:PORT, got {endpoint!r}")
        modbus = item.get("modbus")
        if not isinstance(modbus, dict):
            raise RegistryError(f"{where}: a Modbus tag needs 'modbus: {{unit, register_type, address}}'")
        register_type = str(modbus.get("register_type", ""))
        if register_type not in REGISTER_TYPES:
            raise RegistryError(f"{where}: register_type must be one of {', '.join(REGISTER_TYPES)}")
        if (register_type in BIT_TYPES) != (data_type is DataType.BOOL):
            raise RegistryError(f"{where}: coils and discrete inputs hold bool; registers hold "
                                f"{', '.join(t.value for t in REGISTER_COUNT)}")
        if data_type not in REGISTER_COUNT and data_type is not DataType.BOOL:
            raise RegistryError(f"{where}: data type {data_type.value} is not available over Modbus")
        unit, address = modbus.get("unit"), modbus.get("address")
        if not isinstance(unit, int) or not 0 <= unit <= 255:
            raise RegistryError(f"{where}: Modbus unit must be an integer 0..255")
        if not isinstance(address, int) or not 0 <= address <= 65535:
            raise RegistryError(f"{where}: Modbus address must be an integer 0..65535")
        if access is Access.READ_WRITE and register_type in ("input", "discrete_input"):
            raise RegistryError(f"{where}: {register_type} registers cannot be written")
        kwargs.update(modbus_unit=unit, register_type=register_type, address=address,
                      word_order=_enum(WordOrder, modbus.get("word_order", "big"), where, "word_order"))
        if item.get("node_id"):
            raise RegistryError(f"{where}: a Modbus tag has no node_id")
    else:
        if not endpoint.startswith("opc.tcp://"):
            raise RegistryError(f"{where}: an OPC UA endpoint looks like opc.tcp://HOST:PORT/PATH, got {endpoint!r}")
        if not item.get("node_id"):
            raise RegistryError(f"{where}: an OPC UA tag needs 'node_id' (e.g. ns=2;s=FBD01.InletTemperature)")
        if data_type not in (DataType.BOOL, DataType.FLOAT64, DataType.INT16, DataType.UINT16, DataType.INT32,
                             DataType.FLOAT32):
            raise RegistryError(f"{where}: unsupported OPC UA data type {data_type.value}")
        if "modbus" in item:
            raise RegistryError(f"{where}: an OPC UA tag has no 'modbus' address")
        from connectors.opcua import parse_node_id

        try:
            parse_node_id(str(item["node_id"]))
        except ValueError as exc:
            raise RegistryError(f"{where}: {exc}") from None
        kwargs["node_id"] = str(item["node_id"])
    offset = _number(item.get("offset", 0.0), where, "offset")
    return TagDefinition(name=name, equipment_id=str(item["equipment_id"]), protocol=protocol, endpoint=endpoint,
                         data_type=data_type, unit=str(item.get("unit", "")), access=access, scale=float(scale),
                         offset=float(offset or 0.0), low=low, high=high,
                         description=str(item.get("description", "")), **kwargs)


def _enum(kind: type[enum.Enum], value: Any, where: str, key: str) -> Any:
    try:
        return kind(str(value))
    except ValueError:
        raise RegistryError(f"{where}: {key} must be one of {', '.join(m.value for m in kind)}, "
                            f"got {value!r}") from None


def _number(value: Any, where: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RegistryError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def definitions_digest(tags: list[TagDefinition]) -> str:
    import json

    text = json.dumps([t.document() for t in tags], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
