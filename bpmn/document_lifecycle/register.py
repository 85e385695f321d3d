"""What the Documents pages show (no Flask): the register with the revisions in progress,
and one document's versions, content files, lifecycle instances and copy reconciliation."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from masterdata import changes, documents
from masterdata.kinds import DOCUMENT

PROCESS = "document_lifecycle"


def lifecycle_instances(session: Any, code: str | None = None) -> list[dict[str, Any]]:
    """Lifecycle instances (newest first) with key, version, status and the step they wait at."""
    from engine.instances import list_instances
    from engine.models import InstanceTask
    from engine.tasks import ready_task_ids

    found = list_instances(session, key=PROCESS, search=f"{code}/" if code else None)
    rows = []
    for instance in reversed(found):
        key = instance["business_key"]
        if key is None or "/" not in key or (code is not None and key.rsplit("/", 1)[0] != code):
            continue
        ready = ready_task_ids(session, instance["id"])
        steps = sorted({name or "" for (name,) in session.execute(select(InstanceTask.bpmn_name).where(
            InstanceTask.id.in_(ready)))} if ready else set())
        number = key.rsplit("/", 1)[1]
        rows.append({"id": instance["id"], "key": key, "code": key.rsplit("/", 1)[0],
                     "version": int(number) if number.isdigit() else None, "status": instance["status"],
                     "started_at": instance["started_at"], "steps": steps,
                     "drafting": "Draft the document" in steps})
    return rows


def register_rows(session: Any) -> list[dict[str, Any]]:
    """Every document of the register: the version in force, and revisions in progress."""
    in_force = {r.key: r for r in changes.effective_items(session, DOCUMENT.name)}
    running: dict[str, list[dict[str, Any]]] = {}
    for row in lifecycle_instances(session):
        if row["status"] == "running":
            running.setdefault(row["code"], []).append(row)
    rows = []
    for code in sorted(set(changes.items(session, DOCUMENT.name)) | set(running)):
        current = in_force.get(code)
        recon = documents.reconciliation(session, code)
        rows.append({"code": code, "title": current.data.get("title") if current else None,
                     "title_zh": current.data.get("title_zh") if current else None,
                     "version": current.data.get("version") if current else None,
                     "effective_date": current.data.get("effective_date") if current else None,
                     "type": current.data.get("type") if current else None,
                     "in_progress": [r for r in running.get(code, [])
                                     if current is None or r["version"] != current.data.get("version")],
                     "outstanding": sum(r.outstanding for r in recon)})
    return rows


def document_page(session: Any, code: str) -> dict[str, Any]:
    ids = changes.in_force_ids(session, DOCUMENT.name)
    revisions = [{"revision": c.revision, "version": c.data.get("version"), "title": c.data.get("title"),
                  "action": c.action, "state": c.state_at(in_force_id=ids.get(code)), "effective_from": c.effective_from,
                  "approved_by": c.approved_by, "signature_id": c.signature_id, "sha256": c.data.get("sha256"),
                  "reason": c.reason, "drafted_by": c.drafted_by}
                 for c in changes.history(session, DOCUMENT.name, code)]
    current = changes.effective(session, DOCUMENT.name, code)
    return {"code": code, "current": current.data if current else None, "revisions": revisions,
            "contents": documents.contents_of(session, code), "instances": lifecycle_instances(session, code),
            "reconciliation": documents.reconciliation(session, code)}
