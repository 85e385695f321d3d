"""Process definitions as items under change control (masterdata.changes, kind `process_definition`).

A process (its id) is one controlled item; each approved version is one revision of it,
whose data names the version and the SHA-256 of its files (the files themselves stay in
`engine_definition_version`). The process library is the kind's manager: drafts, their
checks and review (draft, submitted) live on the version rows (engine.definitions); an
approval signs the version record and records the same signature as the change's
approval (`changes.record_signed_approval`): the change is effective at once and the
version it replaces superseded. What is in force for a process is the change primitive's
answer (`version_in_force`), as for master data and equipment tags; history and compare
read the same way on the master data pages (/master/process_definition) and in the library.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

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
                    drafted_by: str, drafted_at: str, signature: Any, approval_reason: str | None) -> Change:
    """The approved version as the process's next revision, approved by `signature` (the version's own)."""
    action = "change" if changes.effective(uow.session, PROCESS_DEFINITION, process_id) is not None else "create"
    return changes.record_signed_approval(
        uow, PROCESS_DEFINITION, process_id, change_data(process_id, name, version, files_sha256), action=action,
        reason=reason, drafted_by=drafted_by, drafted_at=drafted_at, signature=signature,
        approval_reason=approval_reason)


def version_in_force(session: Session, process_id: str) -> int | None:
    """The number of the version in force for `process_id` now (None: no approved version)."""
    revision = changes.effective(session, PROCESS_DEFINITION, process_id)
    return int(revision.data["version"]) if revision is not None else None


__all__ = ["PROCESS_DEFINITION", "change_data", "record_approval", "version_in_force"]
