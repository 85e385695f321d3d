"""Process definitions as items under change control (masterdata.changes, kind `process_definition`).

A process (its id) is one controlled item; each approved version is one revision of it,
whose data names the version and the SHA-256 of its files (the files themselves stay in
`engine_definition_version`). The process library is the kind's manager: drafts, their
checks and review (draft, submitted) live on the version rows (engine.definitions); an
approval signs the version record and records the same signature as the change's
approval (`changes.record_signed_approval`): the change is effective at once, or from a
later date the approver chose, and the version it replaces is superseded then. What is in
force for a process is the change primitive's answer on the product clock
(`version_in_force`, `version_states`: computed from the dates, no job), as for master data
and equipment tags; history and compare read the same way on the master data pages
(/master/process_definition) and in the library.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from core import clock
from masterdata import changes
from masterdata.changes import Change, ChangeKind

_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["process_id", "name", "version", "files_sha256"],
    "properties": {
        "process_id": {"type": "string", "title": "Process id", "minLength": 1, "maxLength": 200},
        "name": {"type": "string", "title": "Name", "maxLength": 200},
        "version": {"type": "integer", "title": "Version", "minimum": 1},
        "files_sha256": {"type": "string", "title": "Files SHA-256", "pattern": "^[0-9a-f]{64}$"},
    },
}

PROCESS_DEFINITION = ChangeKind(
    "process_definition", "Process definition", "流程定义", schema=_SCHEMA, key_field="process_id",
    drafter_roles=("qa",), approver_roles=("qa",), list_fields=("process_id", "name", "version", "files_sha256"),
    description="Approved versions of the process definitions (BPMN, forms, decision tables): the one in force "
                "starts instances (P11-10k, A11-10).",
    managed_by="the process library (Library, gmp process upload and approve)")


def change_data(process_id: str, name: str, version: int, files_sha256: str) -> dict[str, Any]:
    return {"process_id": process_id, "name": (name or process_id)[:200], "version": int(version),
            "files_sha256": files_sha256}


def record_approval(uow: Any, *, process_id: str, name: str, version: int, files_sha256: str, reason: str,
                    drafted_by: str, drafted_at: str, signature: Any, approval_reason: str | None,
                    effective_from: str | None = None) -> Change:
    """The approved version as the process's next revision, approved by `signature` (the version's own),
    in force now or from `effective_from` (checked by `approval_moment` before signing)."""
    action = "change" if changes.effective(uow.session, PROCESS_DEFINITION, process_id) is not None else "create"
    return changes.record_signed_approval(
        uow, PROCESS_DEFINITION, process_id, change_data(process_id, name, version, files_sha256), action=action,
        reason=reason, drafted_by=drafted_by, drafted_at=drafted_at, signature=signature,
        approval_reason=approval_reason, effective_from=effective_from)


def approval_moment(session: Session, process_id: str, effective_from: datetime | date | str | None) -> str:
    """When an approval given now takes effect: now, or the later date asked for. A date in the past, not a
    date, or before a version already approved to take effect is refused (masterdata.changes.ChangeInvalid /
    ChangeStateError, worded for the person)."""
    return changes.approval_moment(session, PROCESS_DEFINITION, process_id, effective_from)


def version_in_force(session: Session, process_id: str, at: datetime | None = None) -> int | None:
    """The number of the version in force for `process_id` now (or at `at`; None: no approved version)."""
    revision = changes.effective(session, PROCESS_DEFINITION, process_id, at)
    return int(revision.data["version"]) if revision is not None else None


def version_states(session: Session, process_id: str, at: datetime | None = None) -> dict[int, tuple[str, str]]:
    """version number -> (state, effective from) of every approved version of `process_id` at `at` (default
    now on the product clock): `approved` (the one in force), `scheduled` (approved to take effect later)
    or `superseded`. Computed from the dates: a scheduled version takes over when its date comes."""
    moment = clock.isoformat(at or clock.now())
    in_force = version_in_force(session, process_id, at)
    states: dict[int, tuple[str, str]] = {}
    for change in changes.history(session, PROCESS_DEFINITION, process_id):
        if change.status not in changes.IN_FORCE_STATUSES or change.effective_from is None:
            continue
        number = int(change.data["version"])
        if number == in_force:
            state = "approved"
        elif change.effective_from > moment:
            state = "scheduled"
        else:
            state = "superseded"
        states[number] = (state, change.effective_from)
    return states


def in_force_version_ids(session: Session) -> list[int]:
    """Ids of the versions in force now, one per process (change control, on the product clock): what
    lists of startable processes select, not the stored status (a version approved for a later date is
    stored approved beside the one still in force)."""
    from sqlalchemy import select

    from engine.models import ProcessDefinition, ProcessDefinitionVersion

    wanted = {(r.key, int(r.data["version"])) for r in changes.effective_items(session, PROCESS_DEFINITION)}
    if not wanted:
        return []
    rows = session.execute(select(ProcessDefinition.key, ProcessDefinitionVersion.version, ProcessDefinitionVersion.id)
                           .join(ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
                           .where(ProcessDefinition.key.in_(sorted({k for k, _ in wanted}))))
    return [vid for key, number, vid in rows if (key, number) in wanted]


__all__ = ["PROCESS_DEFINITION", "approval_moment", "change_data", "record_approval", "version_in_force",
           "version_states", "in_force_version_ids"]
