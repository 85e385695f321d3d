"""The release gate `deviations`: a batch is not released while a deviation concerning it is open.

A task names the gate in its `gates` property (the batch record's QP release task carries
`gates: qp, deviations`). At claim, open and complete it reads the deviations linked to the
task's instance, raised from it (`raised`) or affecting it (`affected_by`), through
engine.links.related, and refuses with code `deviation_open` while any of them is open
(instance status running, or stopped in error: not yet closed and not cancelled). Its
parameters: `deviations` (their business keys, comma separated), `count`. A closed
(completed) or cancelled deviation, or one whose link was retracted, no longer holds the batch.
"""
from __future__ import annotations

from typing import Any

from engine.gates import Gate, GateContext
from engine.links import related
from engine.messages import DEVIATION_PROCESS_KEY
from forms.errors import N_

DEVIATIONS_GATE = "deviations"
OPEN_STATUSES = ("running", "error")
RELATIONS = ("raised", "affected_by")

CODES = {
    "deviation_open": N_("'%(task)s' cannot be done while deviation %(deviations)s concerning this record is open: "
                         "QA must close it first"),
}


def open_deviations(session: Any, instance_id: int) -> list[Any]:
    """The open deviations raised from or affecting `instance_id` (engine.links.Related), oldest link first;
    one entry per deviation."""
    seen: dict[int, Any] = {}
    for item in related(session, instance_id, relation=RELATIONS, process=DEVIATION_PROCESS_KEY,
                        status=OPEN_STATUSES):
        seen.setdefault(item.instance_id, item)
    return list(seen.values())


def reference(item: Any) -> str:
    """How people name a deviation: its business key, else its instance number."""
    return item.business_key or f"#{item.instance_id}"


def _check(ctx: GateContext) -> None:
    found = open_deviations(ctx.uow.session, ctx.instance_id)
    if found:
        raise ctx.refuse("deviation_open", deviations=", ".join(reference(item) for item in found),
                         count=len(found))


GATE = Gate(DEVIATIONS_GATE, _check, codes=CODES,
            description="no deviation raised from or affecting the instance is open (release gate)")
