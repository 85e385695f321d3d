"""Process definitions on the change-control primitive: each process an item of kind
`process_definition`, each approved version one revision of it.

No schema change. Carries every approved or superseded definition version over into
md_change_set / md_change, without changing any existing record: in the order they were
approved, each becomes a change (create for the process's first, change after) drafted by
its uploader at its upload time with its reason, approved by its approver at its approval
time with its signature (the version's approval signature is the change's), effective
from then; each superseded by the next one of its process. Drafts and submitted versions
stay drafts of the process library (engine.definitions), as before.

Revision ID: 0014_definition_changes
Revises: 0013_documents
"""
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0014_definition_changes"
down_revision = "0013_documents"
branch_labels = None
depends_on = None

KIND = "process_definition"


def _dump(data):
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _digest(text):
    return hashlib.sha256(b"GMP-MD-CHANGE-v1\x00" + text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    carry_over(op.get_bind())


def carry_over(bind) -> None:
    meta = sa.MetaData()
    def_t = sa.Table("process_definition", meta, autoload_with=bind)
    ver_t = sa.Table("process_definition_version", meta, autoload_with=bind)
    set_t = sa.Table("md_change_set", meta, autoload_with=bind)
    chg_t = sa.Table("md_change", meta, autoload_with=bind)
    if bind.execute(sa.select(sa.func.count()).select_from(chg_t).where(chg_t.c.kind == KIND)).scalar():
        return  # carried over already
    rows = list(bind.execute(
        sa.select(ver_t.c.id, ver_t.c.version, ver_t.c.status, ver_t.c.change_reason, ver_t.c.files_sha256,
                  ver_t.c.created_at, ver_t.c.created_by, ver_t.c.approved_at, ver_t.c.approved_by,
                  ver_t.c.approval_signature, def_t.c.key, def_t.c.name)
        .join(def_t, def_t.c.id == ver_t.c.definition_id)
        .where(ver_t.c.status.in_(("approved", "superseded")), ver_t.c.approved_at.is_not(None))).mappings())
    previous = {}  # process id -> (change id of the revision in force, its revision number)
    for r in sorted(rows, key=lambda r: (r["approved_at"], r["key"], r["version"])):
        data = {"process_id": r["key"], "name": (r["name"] or r["key"])[:200], "version": int(r["version"]),
                "files_sha256": r["files_sha256"]}
        text = _dump(data)
        set_id = bind.execute(set_t.insert().values(
            kind=KIND, reason=r["change_reason"], source_name=None, source_sha256=None,
            drafted_by=r["created_by"], drafted_at=r["created_at"])).inserted_primary_key[0]
        before = previous.get(r["key"])
        change_id = bind.execute(chg_t.insert().values(
            change_set_id=set_id, kind=KIND, item_key=r["key"], revision=(before[1] + 1) if before else 1,
            action="change" if before else "create", data_json=text, data_sha256=_digest(text),
            reason=r["change_reason"], status="effective", drafted_by=r["created_by"], drafted_at=r["created_at"],
            approved_by=r["approved_by"], approved_at=r["approved_at"], approval_reason=None,
            signature_id=r["approval_signature"], effective_from=r["approved_at"])).inserted_primary_key[0]
        if before:
            bind.execute(chg_t.update().where(chg_t.c.id == before[0]).values(
                status="superseded", superseded_by=change_id, superseded_at=r["approved_at"]))
        previous[r["key"]] = (change_id, (before[1] + 1) if before else 1)


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
