"""Task properties: the spiff `properties` on BPMN elements that the engine or the process
library enforces.

    <bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="signature.meaning" value="performed"/>
    </spiffworkflow:properties></bpmn:extensionElements>

Each property is declared once (`TaskProperty`): its name, what it means, whether its
value is a comma-separated list, which gates it needs (they run wherever the property is
set), and an optional upload check of its value. The engine declares its own
(`CORE_PROPERTIES`: forms, signatures, `gates`); the process library adds its own to the
runtime's `PropertyRegistry` (e.g. `qualification.sops`, needing gate `training`).

Each declared property also claims its namespace (the part before the first '.', or the
whole name): a property under a claimed namespace that is not declared is refused at
upload, so a typo never silently switches a control off. docs/bpmn-extensions.md lists
the properties.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from engine.errors import RegistrationError

FORM_SCHEMA = "formJsonSchemaFilename"
FORM_UI_SCHEMA = "formUiSchemaFilename"
SIGNATURE_MEANING = "signature.meaning"
SIGNATURE_VERIFIER = "signature.verifier"
GATES = "gates"
ASSIGNEE = "assignee"

FOUR_EYES_GATE = "four_eyes"

# Namespaces claimed even where no property of them is declared: the engine's own
# (spiffworkflow's form properties start with 'form') and those of the GMP process library,
# so a runtime without the library refuses `qualification.sops` instead of ignoring it.
CORE_NAMESPACES = ("signature.", "gates", "form", "qualification.", "equipment")


def split_list(value: str | None) -> tuple[str, ...]:
    """'a, b ,c' -> ('a', 'b', 'c'); empty entries are dropped."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class PropertyCheck:
    """What an upload check of a property value may look at."""

    element_id: str
    properties: Mapping[str, str]
    files: Mapping[str, bytes]
    json_files: Mapping[str, Any]
    meanings: frozenset[str]
    gates: frozenset[str]


@dataclass(frozen=True)
class TaskProperty:
    """A declared task property.

    `gates`: gate names that must run on a task carrying the property (with a non-empty
    value); `check(value, PropertyCheck) -> [problems]` runs at upload.
    """

    name: str
    description: str
    is_list: bool = False
    gates: tuple[str, ...] = ()
    check: Callable[[str, PropertyCheck], list[str]] | None = None
    label_en: str = ""
    label_zh: str = ""

    @property
    def namespace(self) -> str:
        head, dot, _rest = self.name.partition(".")
        return head + dot if dot else self.name

    def values(self, raw: str | None) -> tuple[str, ...]:
        if self.is_list:
            return split_list(raw)
        text = (raw or "").strip()
        return (text,) if text else ()


@dataclass(frozen=True)
class TaskRules:
    """What the engine enforces on one task, read from its properties."""

    form_schema: str | None = None
    form_ui_schema: str | None = None
    signature_meanings: tuple[str, ...] = ()
    verifier_meaning: str | None = None
    gates: tuple[str, ...] = ()
    implied_gates: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def required_signatures(self) -> tuple[str, ...]:
        """Meanings the completer signs, then the verifier's meaning (if any)."""
        return self.signature_meanings + ((self.verifier_meaning,) if self.verifier_meaning else ())

    @property
    def all_gates(self) -> tuple[str, ...]:
        """Gate names to run: those the task's properties need, then those listed in `gates`, no repeats."""
        names: list[str] = []
        for name in (*self.implied_gates, *self.gates):
            if name not in names:
                names.append(name)
        return tuple(names)


def _check_meanings(value: str, ctx: PropertyCheck) -> list[str]:
    return [f"'{meaning}' is not a known signature meaning (known: {', '.join(sorted(ctx.meanings))})"
            for meaning in split_list(value) if meaning not in ctx.meanings]


def _check_verifier(value: str, ctx: PropertyCheck) -> list[str]:
    problems = _check_meanings(value, ctx)
    if value.strip() and not split_list(ctx.properties.get(SIGNATURE_MEANING)):
        problems.append(f"needs a {SIGNATURE_MEANING} for the first signature it verifies")
    return problems


def _check_gates(value: str, ctx: PropertyCheck) -> list[str]:
    return [f"gate '{gate}' is not registered (registered: {', '.join(sorted(ctx.gates)) or 'none'})"
            for gate in split_list(value) if gate not in ctx.gates]


def _check_assignee(value: str, ctx: PropertyCheck) -> list[str]:
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", value):
        return [f"'{value}' is not a data field (dotted identifiers, e.g. training.trainee)"]
    return []


def assignee_of(properties: Mapping[str, str], data: Mapping[str, Any]) -> str | None:
    """The person a task is assigned to: the user id in the data field its `assignee` property names
    (None when the task has no assignee or the field holds no user id)."""
    path = (properties.get(ASSIGNEE) or "").strip()
    if not path:
        return None
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _check_file(name: str, required_schema: bool) -> Callable[[str, PropertyCheck], list[str]]:
    def check(value: str, ctx: PropertyCheck) -> list[str]:
        import jsonschema

        if value not in ctx.files:
            return [f"form file '{value}' ({name}) is not among the uploaded files"]
        if value not in ctx.json_files:
            return [f"form file '{value}' is not valid JSON"]
        if required_schema:
            schema = ctx.json_files[value]
            try:
                if not isinstance(schema, dict):
                    raise jsonschema.SchemaError("a JSON Schema must be an object")
                cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
                cls.check_schema(schema)
            except jsonschema.SchemaError as exc:
                return [f"form file '{value}' is not a valid JSON Schema: {exc.message}"]
        return []
    return check


CORE_PROPERTIES: tuple[TaskProperty, ...] = (
    TaskProperty(FORM_SCHEMA, "the task's form: a JSON Schema file of the upload; submitted data is validated "
                 "against it", check=_check_file(FORM_SCHEMA, True), label_en="Form (JSON Schema file)",
                 label_zh="表单（JSON Schema 文件）"),
    TaskProperty(FORM_UI_SCHEMA, "a UI schema file of the upload, passed to the form renderer and validator",
                 check=_check_file(FORM_UI_SCHEMA, False), label_en="UI schema file", label_zh="界面模式文件"),
    TaskProperty(SIGNATURE_MEANING, "the completer signs with each of these meanings", is_list=True,
                 check=_check_meanings, label_en="Signature meaning(s)", label_zh="签名含义"),
    TaskProperty(SIGNATURE_VERIFIER, "a second person signs with this meaning (gate four_eyes)",
                 gates=(FOUR_EYES_GATE,), check=_check_verifier, label_en="Verifier signature meaning",
                 label_zh="复核人签名含义"),
    TaskProperty(GATES, "further gates to run, by name", is_list=True, check=_check_gates, label_en="Gates",
                 label_zh="闸门"),
    TaskProperty(ASSIGNEE, "a data field naming the one person (user id) who does this task, e.g. the trainee of "
                 "a training; the task is theirs whatever roles they hold, and nobody else's",
                 check=_check_assignee, label_en="Assigned to (data field)", label_zh="指派给（数据字段）"),
)


class PropertyRegistry:
    """The task properties a runtime knows. Built by the runtime's install step."""

    def __init__(self, properties: Iterable[TaskProperty] = ()) -> None:
        self._properties: dict[str, TaskProperty] = {}
        self._frozen = False
        for prop in properties:
            self.register(prop)

    def register(self, prop: TaskProperty) -> TaskProperty:
        if self._frozen:
            raise RegistrationError(f"task property {prop.name!r}: this runtime is frozen (build a new one)")
        if not prop.name or prop.name != prop.name.strip() or "," in prop.name:
            raise RegistrationError(f"task property name {prop.name!r} is not valid")
        if prop.name in self._properties:
            raise RegistrationError(f"task property {prop.name!r} is declared already")
        self._properties[prop.name] = prop
        return prop

    def freeze(self) -> None:
        self._frozen = True

    def get(self, name: str) -> TaskProperty | None:
        return self._properties.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._properties

    def names(self) -> list[str]:
        return sorted(self._properties)

    def all(self) -> list[TaskProperty]:
        return [self._properties[name] for name in self.names()]

    def namespaces(self) -> tuple[str, ...]:
        return tuple(sorted({*CORE_NAMESPACES, *(p.namespace for p in self._properties.values())}))

    def unknown(self, properties: Mapping[str, Any]) -> list[str]:
        """Names under a claimed namespace that are not declared (typos)."""
        spaces = self.namespaces()
        return [key for key in properties if key.startswith(spaces) and key not in self._properties]

    def needed_gates(self, properties: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(property, gate) for every gate a task's properties need, in declaration order."""
        found = []
        for prop in self._properties.values():
            if prop.gates and prop.values(properties.get(prop.name)):
                found.extend((prop.name, gate) for gate in prop.gates)
        return found

    def rules(self, properties: Mapping[str, Any] | None) -> TaskRules:
        props = {str(k): str(v) for k, v in dict(properties or {}).items() if v is not None}
        verifier = (props.get(SIGNATURE_VERIFIER) or "").strip() or None
        implied: list[str] = []
        for _prop, gate in self.needed_gates(props):
            if gate not in implied:
                implied.append(gate)
        return TaskRules(form_schema=props.get(FORM_SCHEMA) or None, form_ui_schema=props.get(FORM_UI_SCHEMA) or None,
                         signature_meanings=split_list(props.get(SIGNATURE_MEANING)), verifier_meaning=verifier,
                         gates=split_list(props.get(GATES)), implied_gates=tuple(implied), properties=props)
