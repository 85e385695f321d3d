"""Extension properties the engine enforces per task (spiff `properties` on BPMN elements).

Diagrams carry them as
    <bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="signature.meaning" value="performed"/>
    </spiffworkflow:properties></bpmn:extensionElements>
and SpiffWorkflow keeps them in `task_spec.extensions['properties']`. docs/bpmn-extensions.md
documents each one with an example diagram.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

FORM_SCHEMA = "formJsonSchemaFilename"
FORM_UI_SCHEMA = "formUiSchemaFilename"
SIGNATURE_MEANING = "signature.meaning"
SIGNATURE_VERIFIER = "signature.verifier"
QUALIFICATION_SOPS = "qualification.sops"
EQUIPMENT = "equipment"
GATES = "gates"

KNOWN_PROPERTIES = {FORM_SCHEMA, FORM_UI_SCHEMA, SIGNATURE_MEANING, SIGNATURE_VERIFIER,
                    QUALIFICATION_SOPS, EQUIPMENT, GATES}
# Prefixes we own: a property starting with one of them must be known (catches typos).
OWNED_PREFIXES = ("signature.", "qualification.", "equipment", "gates", "form")

# Gates implied by properties (the process library registers them under these names).
TRAINING_GATE = "training"
EQUIPMENT_GATE = "equipment"
FOUR_EYES_GATE = "four_eyes"


def split_list(value: str | None) -> tuple[str, ...]:
    """'a, b ,c' -> ('a', 'b', 'c'); empty entries are dropped."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class TaskRules:
    """What the engine enforces when a task is completed."""

    form_schema: str | None = None
    form_ui_schema: str | None = None
    signature_meanings: tuple[str, ...] = ()
    verifier_meaning: str | None = None
    sops: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    gates: tuple[str, ...] = field(default_factory=tuple)

    @property
    def required_signatures(self) -> tuple[str, ...]:
        """Meanings the completer signs, then the verifier's meaning (if any)."""
        return self.signature_meanings + ((self.verifier_meaning,) if self.verifier_meaning else ())

    @property
    def all_gates(self) -> tuple[str, ...]:
        """Gate names to run, implied ones first, then those listed in `gates`, no repeats."""
        names: list[str] = []
        if self.sops:
            names.append(TRAINING_GATE)
        if self.equipment:
            names.append(EQUIPMENT_GATE)
        if self.verifier_meaning:
            names.append(FOUR_EYES_GATE)
        for name in self.gates:
            if name not in names:
                names.append(name)
        return tuple(names)


def rules_from_properties(properties: Mapping[str, Any] | None) -> TaskRules:
    props = dict(properties or {})
    verifier = props.get(SIGNATURE_VERIFIER) or None
    return TaskRules(
        form_schema=props.get(FORM_SCHEMA) or None,
        form_ui_schema=props.get(FORM_UI_SCHEMA) or None,
        signature_meanings=split_list(props.get(SIGNATURE_MEANING)),
        verifier_meaning=verifier.strip() if verifier else None,
        sops=split_list(props.get(QUALIFICATION_SOPS)),
        equipment=split_list(props.get(EQUIPMENT)),
        gates=split_list(props.get(GATES)),
    )


def rules_of(task_spec: Any) -> TaskRules:
    extensions = getattr(task_spec, "extensions", None) or {}
    return rules_from_properties(extensions.get("properties"))
