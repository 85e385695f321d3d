"""The tag registry on the change-control primitive: each tag an item of kind `tag`.

Adds tag_registry_revision.change_set_id and carries every existing registry revision
over into md_change_set / md_change, without changing any existing record:
- an approved or superseded revision (which replaced the whole registry, as it did then)
  becomes changes that create, change or retire the tags it differed in from the registry
  before it, approved by its approver at its decision time with its signature (the
  revision's signature covers all its tags);
- a pending revision becomes drafts of the tags it adds or changes (from now on a file
  only changes the tags it names; retiring is explicit);
- a rejected revision becomes withdrawn changes, with the rejection's reason.
Events are replayed in time order (decisions at decided_at, imports at imported_at).

Revision ID: 0010_tag_registry_changes
Revises: 0009_periodic_report
"""
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0010_tag_registry_changes"
down_revision = "0009_periodic_report"
branch_labels = None
depends_on = None

DOC_COLUMNS = ("name", "equipment_id", "protocol", "endpoint", "data_type", "unit", "access", "modbus_unit",
               "register_type", "address", "word_order", "node_id", "scale", "offset", "low", "high", "description")


def _dump(data):
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _digest(text):
    return hashlib.sha256(b"GMP-MD-CHANGE-v1\x00" + text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.add_column("tag_registry_revision", sa.Column("change_set_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_tag_registry_revision_change_set_id"), "tag_registry_revision", ["change_set_id"],
                    unique=False)
    carry_over(op.get_bind())


def carry_over(bind) -> None:
    meta = sa.MetaData()
    rev_t = sa.Table("tag_registry_revision", meta, autoload_with=bind)
    tag_t = sa.Table("equipment_tag", meta, autoload_with=bind)
    set_t = sa.Table("md_change_set", meta, autoload_with=bind)
    chg_t = sa.Table("md_change", meta, autoload_with=bind)
    revisions = list(bind.execute(sa.select(rev_t).order_by(rev_t.c.number)).mappings())
    if not revisions:
        return

    def event_time(r):
        decided = r["status"] in ("approved", "superseded")
        return (r["decided_at"] if decided and r["decided_at"] else r["imported_at"], r["number"])

    current = {}     # name -> document in force
    revision_of = {}  # name -> last revision number of the item
    approved_rows = {}  # name -> [(change id, effective_from)]
    for r in sorted(revisions, key=event_time):
        set_id = bind.execute(set_t.insert().values(
            kind="tag", reason=r["change_reason"], source_name=r["source_name"], source_sha256=r["source_sha256"],
            drafted_by=r["imported_by"], drafted_at=r["imported_at"])).inserted_primary_key[0]
        bind.execute(rev_t.update().where(rev_t.c.id == r["id"]).values(change_set_id=set_id))
        docs = {}
        for row in bind.execute(sa.select(tag_t).where(tag_t.c.revision_id == r["id"])).mappings():
            docs[row["name"]] = {c: row[c] for c in DOC_COLUMNS}
        entries = []
        for name in sorted(docs):
            if name not in current:
                entries.append((name, "create", docs[name]))
            elif current[name] != docs[name]:
                entries.append((name, "change", docs[name]))
        decided = r["status"] in ("approved", "superseded")
        if decided:
            entries.extend((name, "retire", current[name]) for name in sorted(set(current) - set(docs)))
        for name, action, doc in entries:
            text = _dump(doc)
            revision_of[name] = revision_of.get(name, 0) + 1
            values = dict(change_set_id=set_id, kind="tag", item_key=name, revision=revision_of[name], action=action,
                          data_json=text, data_sha256=_digest(text), reason=r["change_reason"],
                          drafted_by=r["imported_by"], drafted_at=r["imported_at"])
            if decided:
                values.update(status="effective", approved_by=r["decided_by"], approved_at=r["decided_at"],
                              approval_reason=r["decision_reason"], signature_id=r["approval_signature"],
                              effective_from=r["decided_at"])
            elif r["status"] == "rejected":
                values.update(status="withdrawn", withdrawn_by=r["decided_by"], withdrawn_at=r["decided_at"],
                              withdrawal_reason=f"registry revision {r['number']} rejected: {r['decision_reason']}")
            else:
                values.update(status="draft")
            change_id = bind.execute(chg_t.insert().values(**values)).inserted_primary_key[0]
            if decided:
                approved_rows.setdefault(name, []).append((change_id, r["decided_at"]))
                if action == "retire":
                    current.pop(name, None)
                else:
                    current[name] = doc
    for name, rows in approved_rows.items():
        for (old_id, _), (new_id, when) in zip(rows, rows[1:]):
            bind.execute(chg_t.update().where(chg_t.c.id == old_id).values(
                status="superseded", superseded_by=new_id, superseded_at=when))


def downgrade() -> None:
    raise RuntimeError("GMP data is never dropped: restore a backup instead")
