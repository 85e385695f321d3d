"""Process-specific sections of the executed record (the one record renderer, web/records.py).

The record of every instance has the same parts (values with their sources, set-points,
exceptions and their assessments, links, signatures, Annex 11 §8 flags, charts of sampled
parameters, timeline). A process adds what only it has (calibration test points, permit
isolations, dispensing reconciliation, ...) as a *section*: a table built from the
database, rendered by the same page, PDF and JSON as everything else. No process writes
its own renderer.

    from engine.record_sections import RecordSection

    def test_points(session, instance_id, record):          # record: the record built so far
        rows = ...                                           # read your own tables / instance data
        return {"columns": [{"key": "point", "label_en": "Test point", "label_zh": "测试点"},
                            {"key": "error", "label_en": "Error", "label_zh": "误差", "unit": "%"}],
                "rows": [{"point": "25 %", "error": "0.12"}],
                "notes": ["As-found = as-left: no adjustment."],           # optional lines under the table
                "exceptions": [{"ref": "cal:TP3", "message": "TP3 out of tolerance"}]}  # optional

    runtime.record_sections.register(RecordSection(
        process="calibration", key="test_points", title_en="Test points", title_zh="测试点",
        build=test_points, order=10))

`build` returns None (nothing to show for this instance) or the dict above; its values
must be JSON-able (they go into the record's JSON as they are). A builder that raises
does not hide the record: the section shows the error instead (the record stays readable).
Register in the process package's `install(runtime, env)`; nothing registers at import time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from engine.errors import RegistrationError

SectionBuilder = Callable[[Any, int, Mapping[str, Any]], "Mapping[str, Any] | None"]


@dataclass(frozen=True)
class RecordSection:
    """One process-specific section of the record of instances of `process` (a process id)."""

    process: str
    key: str
    title_en: str
    title_zh: str
    build: SectionBuilder
    order: int = 100


class RecordSectionRegistry:
    """The record sections a runtime knows, per process id."""

    def __init__(self) -> None:
        self._sections: dict[tuple[str, str], RecordSection] = {}
        self._frozen = False

    def register(self, section: RecordSection) -> RecordSection:
        if self._frozen:
            raise RegistrationError(f"record section {section.process}/{section.key}: this runtime is frozen")
        if not section.process or not section.key:
            raise RegistrationError("a record section needs a process id and a key")
        if (section.process, section.key) in self._sections:
            raise RegistrationError(f"record section {section.process}/{section.key} is registered already")
        self._sections[(section.process, section.key)] = section
        return section

    def register_missing(self, sections: Iterable[RecordSection]) -> None:
        """Register the sections not registered yet (a runtime extended twice keeps the first)."""
        for section in sections:
            if (section.process, section.key) not in self._sections:
                self.register(section)

    def for_process(self, process: str) -> list[RecordSection]:
        return sorted((s for (p, _k), s in self._sections.items() if p == process), key=lambda s: (s.order, s.key))

    def all(self) -> list[RecordSection]:
        return sorted(self._sections.values(), key=lambda s: (s.process, s.order, s.key))

    def freeze(self) -> None:
        self._frozen = True


def build_sections(registry: RecordSectionRegistry | None, session: Any, process: str, instance_id: int,
                   record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sections of one instance's record, each {key, title_en, title_zh, columns, rows, notes,
    exceptions, error}; a builder's failure is shown as the section's `error`."""
    if registry is None:
        return []
    found = []
    for section in registry.for_process(process):
        try:
            content = section.build(session, instance_id, record)
            error = None
        except Exception as exc:  # noqa: BLE001 - a broken section must not hide the record
            content, error = {}, f"{type(exc).__name__}: {exc}"
        if content is None:
            continue
        found.append({"key": section.key, "title_en": section.title_en, "title_zh": section.title_zh,
                      "columns": [dict(c) for c in content.get("columns") or []],
                      "rows": [dict(r) for r in content.get("rows") or []],
                      "notes": [str(n) for n in content.get("notes") or []],
                      "exceptions": [dict(e) for e in content.get("exceptions") or []],
                      "error": error})
    return found
