"""What the deviation process leaves for others to read (no Flask).

`dispositions_of(session, batch_instance_id)`: the dispositions closed deviations gave a
batch (release from hold, or reject), oldest first, from the `deviation.batch_disposition`
audit entries the closure writes (bpmn.deviation_capa.operators.record_closure). The batch
record reads it to show a batch rejected by a deviation's closure.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

DISPOSITION_ACTION = "deviation.batch_disposition"


def dispositions_of(session: Session, batch_instance_id: int) -> list[dict[str, Any]]:
    from audit.models import AuditEntry

    out = []
    rows = session.execute(select(AuditEntry).where(AuditEntry.action == DISPOSITION_ACTION)
                           .order_by(AuditEntry.seq)).scalars()
    for entry in rows:
        details = json.loads(entry.details or "{}")
        if details.get("batch_instance_id") != batch_instance_id:
            continue
        out.append({"deviation": details.get("deviation"), "deviation_instance_id": int(entry.object_id),
                    "disposition": details.get("disposition"), "rationale": entry.reason,
                    "at": entry.ts, "by": entry.actor_id})
    return out
