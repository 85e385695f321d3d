"""The kinds of master data under change control (masterdata.changes): their schemas,
cross-field checks and who drafts and approves them by default.

    material            code, name, OEB class and the protective equipment it requires, storage
    supplier            code, name, country, address
    approved_supplier   the approved supplier list: supplier x material, approved / conditional /
                        rejected, valid until (key "<supplier>:<material>")
    equipment           id, class, location, linked instruments, clean hold time
    instrument          id, range, tolerance, calibration interval, linked equipment, the tag it is
                        read from, its calibration test points, whether it is a reference standard
    document            the document register: SOP/document id, version, title, effective date; its
                        training: question bank, pass mark, attempts, practical assessment
                        (masterdata.question_bank reads them)
    training_matrix     role -> the SOP ids it requires (key: the role)
    recipe              master recipe: product, batch size, bill of materials, equipment classes,
                        phases with set-points and critical-parameter limits, in-process controls,
                        yield range, SOPs

`register_kinds(catalogue)` adds them to a runtime's catalogue (bpmn.glue.install does it);
nothing registers at import time. Who may draft and approve each kind is configuration
(masterdata/change_rules.yaml); the roles named here are the defaults.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from masterdata.changes import ChangeCatalogue, ChangeKind

CODE = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"}
TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
NUMBER = {"type": "number"}
POSITIVE = {"type": "number", "exclusiveMinimum": 0}
UNIT = {"type": "string", "minLength": 1, "maxLength": 16}
OEB = {"type": "integer", "minimum": 1, "maximum": 5, "title": "OEB class"}
DIMENSION_UNITS = ("mg", "g", "kg", "mL", "L", "pcs")


def _obj(required: Sequence[str], properties: Mapping[str, Any], title: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": list(required), "additionalProperties": False,
                              "properties": dict(properties)}
    if title:
        schema["title"] = title
    return schema


def _titled(schema: Mapping[str, Any], title: str, **extra: Any) -> dict[str, Any]:
    return {**schema, "title": title, **extra}


def _dates(data: Mapping[str, Any], *fields: str) -> list[tuple[str, str]]:
    """Dates that match the pattern but do not exist (2026-02-30)."""
    from datetime import date

    problems = []
    for name in fields:
        value = data.get(name)
        if isinstance(value, str):
            try:
                date.fromisoformat(value)
            except ValueError:
                problems.append((name, f"{value} is not a date"))
    return problems


def _limits(prefix: str, item: Mapping[str, Any]) -> list[tuple[str, str]]:
    low, high = item.get("min"), item.get("max")
    if low is not None and high is not None and low > high:
        return [(f"{prefix}.max", f"must not be below min ({low})")]
    return []


# ---------------------------------------------------------------- material
MATERIAL_SCHEMA = _obj(["code", "name", "oeb", "unit", "storage"], {
    "code": _titled(CODE, "Material code"),
    "name": _titled(TEXT, "Name"),
    "name_zh": _titled({"type": "string", "maxLength": 200}, "Chinese name"),
    "oeb": OEB,
    "protective_equipment": {"type": "array", "title": "Protective equipment", "uniqueItems": True,
                             "items": {"type": "string", "minLength": 1, "maxLength": 100}},
    "unit": {"type": "string", "enum": list(DIMENSION_UNITS), "title": "Unit"},
    "storage": _obj(["condition"], {
        "condition": _titled(TEXT, "Storage condition"),
        "min_c": _titled(NUMBER, "Minimum temperature (°C)"),
        "max_c": _titled(NUMBER, "Maximum temperature (°C)"),
        "max_rh": _titled({"type": "number", "minimum": 0, "maximum": 100}, "Maximum relative humidity (%)"),
    }, "Storage"),
    "shelf_life_months": _titled({"type": "integer", "minimum": 1, "maximum": 240}, "Shelf life (months)"),
})


def _check_material(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    if data.get("oeb", 1) >= 3 and not data.get("protective_equipment"):
        problems.append(("protective_equipment", f"OEB {data['oeb']} material: name the protective equipment it "
                                                 "requires"))
    storage = data.get("storage") or {}
    if "min_c" in storage and "max_c" in storage and storage["min_c"] > storage["max_c"]:
        problems.append(("storage.max_c", f"must not be below the minimum temperature ({storage['min_c']})"))
    return problems


MATERIAL = ChangeKind(
    "material", "Material", "物料", schema=MATERIAL_SCHEMA, key_field="code", validate=_check_material,
    drafter_roles=("qa", "qc"), approver_roles=("qa",), list_fields=("code", "name", "oeb", "unit"),
    description="materials with their hazard class (OEB), protective equipment and storage conditions")

# ---------------------------------------------------------------- suppliers and the approved supplier list
SUPPLIER = ChangeKind(
    "supplier", "Supplier", "供应商", key_field="code", schema=_obj(["code", "name", "country"], {
        "code": _titled(CODE, "Supplier code"),
        "name": _titled(TEXT, "Name"),
        "country": _titled({"type": "string", "minLength": 2, "maxLength": 60}, "Country"),
        "address": _titled({"type": "string", "maxLength": 400}, "Address"),
        "contact": _titled({"type": "string", "maxLength": 200}, "Quality contact"),
    }), drafter_roles=("qa", "purchasing"), approver_roles=("qa",), list_fields=("code", "name", "country"),
    description="suppliers of materials")

ASL_STATUSES = ("approved", "conditional", "rejected")


def _check_asl(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    if _dates(data, "valid_until"):
        return _dates(data, "valid_until")
    wanted = f"{data.get('supplier')}:{data.get('material')}"
    if data.get("code") != wanted:
        return [("code", f"must be '<supplier>:<material>' ({wanted})")]
    if data.get("status") == "conditional" and not (data.get("conditions") or "").strip():
        return [("conditions", "a conditional approval names its conditions")]
    return []


APPROVED_SUPPLIER = ChangeKind(
    "approved_supplier", "Approved supplier", "合格供应商", key_field="code", validate=_check_asl,
    schema=_obj(["code", "supplier", "material", "status", "valid_until"], {
        "code": _titled({"type": "string", "maxLength": 130}, "Entry (supplier:material)"),
        "supplier": _titled(CODE, "Supplier"),
        "material": _titled(CODE, "Material"),
        "status": _titled({"type": "string", "enum": list(ASL_STATUSES)}, "Status"),
        "valid_until": _titled(DATE, "Valid until"),
        "scope": _titled({"type": "string", "maxLength": 500}, "Scope"),
        "conditions": _titled({"type": "string", "maxLength": 1000}, "Conditions"),
    }), drafter_roles=("qa", "purchasing"), approver_roles=("qa",),
    list_fields=("code", "supplier", "material", "status", "scope", "valid_until"),
    description="the approved supplier list: which supplier may deliver which material, until when")

# ---------------------------------------------------------------- equipment and instruments
EQUIPMENT = ChangeKind(
    "equipment", "Equipment", "设备", key_field="code", schema=_obj(["code", "name", "class", "location"], {
        "code": _titled(CODE, "Equipment id"),
        "name": _titled(TEXT, "Name"),
        "class": _titled({"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[a-z][a-z0-9_]*$"},
                         "Equipment class"),
        "location": _titled(TEXT, "Location"),
        "instruments": {"type": "array", "title": "Instruments", "uniqueItems": True, "items": CODE},
        "clean_hold_hours": _titled({"type": "integer", "minimum": 1, "maximum": 8760}, "Clean hold time (hours)"),
    }), drafter_roles=("qa", "supervisor", "technician"), approver_roles=("qa",),
    list_fields=("code", "name", "class", "location"),
    description="production equipment: class, location, linked instruments, clean hold time")


def _check_instrument(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = _limits("range", data.get("range") or {})
    span = data.get("range") or {}
    for index, point in enumerate(data.get("test_points") or []):
        if "min" in span and "max" in span and not span["min"] <= point <= span["max"]:
            problems.append((f"test_points.{index}", f"{point} is outside the instrument's range"))
    tolerance = data.get("tolerance") or {}
    if tolerance.get("value") is not None and "min" in span and "max" in span and tolerance.get("unit") == span.get(
            "unit") and tolerance["value"] > span["max"] - span["min"]:
        problems.append(("tolerance.value", "is wider than the instrument's range"))
    return problems


INSTRUMENT = ChangeKind(
    "instrument", "Instrument", "仪器仪表", key_field="code", validate=_check_instrument,
    schema=_obj(["code", "name", "range", "tolerance", "interval_days"], {
        "code": _titled(CODE, "Instrument id"),
        "name": _titled(TEXT, "Name"),
        "equipment": _titled(CODE, "Equipment"),
        "location": _titled({"type": "string", "maxLength": 200}, "Location"),
        "range": _obj(["min", "max", "unit"], {"min": NUMBER, "max": NUMBER, "unit": UNIT}, "Range"),
        "tolerance": _obj(["value", "unit"], {"value": POSITIVE, "unit": UNIT}, "Tolerance (±)"),
        "interval_days": _titled({"type": "integer", "minimum": 1, "maximum": 3650}, "Calibration interval (days)"),
        "warning_days": _titled({"type": "integer", "minimum": 0, "maximum": 365},
                                "Due warning (days before the due date)"),
        "tag": _titled({"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^\S+$"},
                       "Equipment tag it is read from (connected instruments)"),
        "test_points": {"type": "array", "title": "Calibration test points", "minItems": 1, "maxItems": 20,
                        "items": NUMBER},
        "reference": _titled({"type": "boolean"}, "Reference standard"),
    }), drafter_roles=("qa", "metrology"), approver_roles=("qa", "metrology"),
    list_fields=("code", "name", "equipment", "interval_days"),
    description="measuring instruments: range, tolerance, calibration interval, linked equipment")

# ---------------------------------------------------------------- documents and training
DOCUMENT_TYPES = ("sop", "specification", "master_recipe", "work_instruction", "form", "policy")
MAX_QUESTIONS = 100
MAX_CHOICES = 8
CHOICE = {"type": "string", "minLength": 1, "maxLength": 300}
QUESTION = _obj(["text", "choices", "answer"], {
    "text": _titled({"type": "string", "minLength": 1, "maxLength": 1000}, "Question"),
    "text_zh": _titled({"type": "string", "maxLength": 1000}, "Question (Chinese)"),
    "choices": {"type": "array", "title": "Choices", "minItems": 2, "maxItems": MAX_CHOICES, "items": CHOICE},
    "choices_zh": {"type": "array", "title": "Choices (Chinese)", "maxItems": MAX_CHOICES, "items": CHOICE},
    "answer": _titled({"type": "integer", "minimum": 0, "maximum": MAX_CHOICES - 1},
                      "Correct choice (0 = the first)"),
}, "Question")


def _check_question_bank(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The question bank of a document (training exams): answers among the choices, Chinese choices
    matching the English ones, no question or choice twice, a pass mark and attempts only with questions."""
    problems: list[tuple[str, str]] = []
    questions = data.get("questions") or []
    texts: list[str] = []
    for index, question in enumerate(questions, start=1):
        choices = question.get("choices") or []
        answer = question.get("answer")
        if isinstance(answer, int) and answer >= len(choices):
            problems.append((f"questions.{index}.answer",
                             f"choice {answer} does not exist: the question has {len(choices)} choices (0 to "
                             f"{len(choices) - 1})"))
        normalised = [c.strip().casefold() for c in choices]
        for number, choice in enumerate(normalised):
            if normalised.index(choice) != number:
                problems.append((f"questions.{index}.choices", f"'{choices[number]}' is offered twice"))
        zh = question.get("choices_zh")
        if zh is not None and len(zh) != len(choices):
            problems.append((f"questions.{index}.choices_zh",
                             f"has {len(zh)} choices; the English question has {len(choices)}: give each its "
                             "translation, in the same order"))
        text_key = question.get("text", "").strip().casefold()
        if text_key in texts:
            problems.append((f"questions.{index}.text", f"the same question is asked as number "
                                                        f"{texts.index(text_key) + 1}"))
        texts.append(text_key)
    if not questions:
        for name in ("pass_mark_pct", "max_attempts"):
            if name in data:
                problems.append((name, "a document without questions has no exam: add questions or leave this out"))
    return problems


def _check_document(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return _dates(data, "effective_date") + _check_question_bank(data)


DOCUMENT = ChangeKind(
    "document", "Document", "文件", key_field="code", validate=_check_document,
    schema=_obj(["code", "title", "type", "version", "effective_date"], {
        "code": _titled(CODE, "Document id"),
        "title": _titled(TEXT, "Title"),
        "title_zh": _titled({"type": "string", "maxLength": 200}, "Chinese title"),
        "type": _titled({"type": "string", "enum": list(DOCUMENT_TYPES)}, "Type"),
        "version": _titled({"type": "integer", "minimum": 1}, "Version"),
        "effective_date": _titled(DATE, "Effective date"),
        "department": _titled({"type": "string", "maxLength": 100}, "Owning department"),
        "sha256": _titled({"type": "string", "pattern": "^[0-9a-f]{64}$"}, "Content SHA-256"),
        "questions": {"type": "array", "title": "Question bank", "maxItems": MAX_QUESTIONS, "items": QUESTION},
        "pass_mark_pct": _titled({"type": "integer", "minimum": 1, "maximum": 100}, "Pass mark (%)"),
        "max_attempts": _titled({"type": "integer", "minimum": 1, "maximum": 10}, "Exam attempts allowed"),
        "practical": _titled({"type": "boolean"}, "Practical assessment required"),
    }), drafter_roles=("qa", "document_control"), approver_roles=("qa",),
    list_fields=("code", "title", "type", "version", "effective_date"),
    description="the document register: SOP and document ids with their current version and effective date")

TRAINING_MATRIX = ChangeKind(
    "training_matrix", "Training matrix", "培训矩阵", key_field="role",
    schema=_obj(["role", "sops"], {
        "role": _titled({"type": "string", "pattern": r"^[a-z][a-z0-9_]{1,63}$"}, "Role"),
        "sops": {"type": "array", "title": "Required SOPs", "uniqueItems": True, "items": CODE},
    }), drafter_roles=("qa", "training_coordinator"), approver_roles=("qa",), list_fields=("role", "sops"),
    description="which SOPs each role must be qualified on")

# ---------------------------------------------------------------- master recipe
_PARAM = _obj(["parameter", "unit"], {"parameter": TEXT, "value": NUMBER, "min": NUMBER, "max": NUMBER,
                                      "unit": UNIT, "tag": {"type": "string", "maxLength": 200}})
RECIPE_SCHEMA = _obj(["code", "product", "version", "batch_size", "bom", "equipment", "phases", "yield"], {
    "code": _titled(CODE, "Recipe id"),
    "product": _titled(TEXT, "Product"),
    "product_zh": _titled({"type": "string", "maxLength": 200}, "Chinese product name"),
    "version": _titled({"type": "integer", "minimum": 1}, "Recipe version"),
    "batch_size": _obj(["quantity", "unit"], {"quantity": POSITIVE, "unit": UNIT}, "Batch size"),
    "bom": {"type": "array", "title": "Bill of materials", "minItems": 1, "items": _obj(
        ["material", "quantity", "unit", "tolerance_pct", "oeb"],
        {"material": CODE, "quantity": POSITIVE, "unit": {"type": "string", "enum": list(DIMENSION_UNITS)},
         "tolerance_pct": {"type": "number", "minimum": 0, "maximum": 100}, "oeb": OEB})},
    "equipment": {"type": "array", "title": "Equipment classes", "minItems": 1, "items": _obj(
        ["class"], {"class": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
                    "equipment": {"type": "array", "uniqueItems": True, "items": CODE}})},
    "phases": {"type": "array", "title": "Phases", "minItems": 1, "items": _obj(
        ["name", "equipment_class"], {"name": TEXT, "equipment_class": {"type": "string"},
                                      "setpoints": {"type": "array", "items": _PARAM},
                                      "cpp": {"type": "array", "items": _PARAM}})},
    "ipc": {"type": "array", "title": "In-process controls", "items": _obj(
        ["test", "unit"], {"test": TEXT, "min": NUMBER, "max": NUMBER, "unit": UNIT,
                           "frequency": {"type": "string", "maxLength": 100}})},
    "yield": _obj(["min_pct", "max_pct"], {"min_pct": {"type": "number", "minimum": 0, "maximum": 200},
                                           "max_pct": {"type": "number", "minimum": 0, "maximum": 200}}, "Yield range"),
    "sops": {"type": "array", "title": "SOPs", "uniqueItems": True, "items": CODE},
})


def _check_recipe(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    materials = [line["material"] for line in data.get("bom", [])]
    for index, material in enumerate(materials, start=1):
        if materials.index(material) != index - 1:
            problems.append((f"bom.{index}.material", f"{material} is listed twice"))
    classes = [entry["class"] for entry in data.get("equipment", [])]
    for index, phase in enumerate(data.get("phases", []), start=1):
        if phase["equipment_class"] not in classes:
            problems.append((f"phases.{index}.equipment_class",
                             f"'{phase['equipment_class']}' is not among the recipe's equipment classes "
                             f"({', '.join(classes)})"))
        limits = {p["parameter"]: p for p in phase.get("cpp", [])}
        for number, cpp in enumerate(phase.get("cpp", []), start=1):
            problems += _limits(f"phases.{index}.cpp.{number}", cpp)
        for number, point in enumerate(phase.get("setpoints", []), start=1):
            limit = limits.get(point["parameter"])
            value = point.get("value")
            if value is None:
                problems.append((f"phases.{index}.setpoints.{number}.value", "is required"))
            elif limit is not None and not (limit.get("min", value) <= value <= limit.get("max", value)):
                problems.append((f"phases.{index}.setpoints.{number}.value",
                                 f"{value} is outside the critical limits {limit.get('min')}..{limit.get('max')}"))
    for index, ipc in enumerate(data.get("ipc", []), start=1):
        problems += _limits(f"ipc.{index}", ipc)
    span = data.get("yield") or {}
    if span and span["min_pct"] > span["max_pct"]:
        problems.append(("yield.max_pct", f"must not be below min_pct ({span['min_pct']})"))
    return problems


RECIPE = ChangeKind(
    "recipe", "Master recipe", "主配方", key_field="code", schema=RECIPE_SCHEMA, validate=_check_recipe,
    drafter_roles=("qa", "supervisor"), approver_roles=("qa",), list_fields=("code", "product", "version"),
    description="master recipes: what a batch is made of, with which equipment, under which limits")

KINDS: tuple[ChangeKind, ...] = (MATERIAL, SUPPLIER, APPROVED_SUPPLIER, EQUIPMENT, INSTRUMENT, DOCUMENT,
                                 TRAINING_MATRIX, RECIPE)


def register_kinds(catalogue: ChangeCatalogue) -> ChangeCatalogue:
    """Add the master data kinds to `catalogue` (a runtime's, not frozen)."""
    for kind in KINDS:
        if kind.name not in catalogue:
            catalogue.register(kind)
    return catalogue
