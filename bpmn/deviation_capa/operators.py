"""Service-task operators of the deviation process (registered by `install`).

    deviation.intake            takes in the report: whether it is filled in, and links each batch
                                its context names (context.batch, context.impacted_batches) as
                                `affects` (skipping the instance it was raised from, which the
                                raiser links `raised_from`); a batch that cannot be found is listed
                                as unresolved, never an error: a deviation is always raised
    deviation.link_batches      links the further batches QA named at triage (`affects`)
    deviation.start_capa_links  starts the document revision / retraining each CAPA action asks
                                for (start_linked_process, contract item 5), linked `started_by`
                                this deviation; returns the actions with `linked` filled in
    deviation.record_closure    records the disposition of each concerned batch at closure (audit
                                entry `deviation.batch_disposition` per batch)

Each runs in the step's unit of work (engine.messages.DbOperatorActions): links, starts and
audit entries commit or roll back with the step.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from engine.errors import BusinessKeyError, InstanceNotFound
from engine.operators import Param

DOCUMENT_PROCESS = "document_lifecycle"
TRAINING_PROCESS = "training"


def _uow(context: Any) -> Any:
    return getattr(context, "uow", None)


def _key(context: Any) -> str:
    from engine.business_keys import key_of

    uow = _uow(context)
    found = key_of(uow.session, context.instance_id) if uow is not None else None
    return found or f"#{context.instance_id}"


def link_affected(context: Any, references: Iterable[Any], *, reason: str,
                  skip: Iterable[int] = ()) -> dict[str, list[Any]]:
    """Link each referenced batch `affects` from this deviation (once); what was linked, what was not found."""
    from bpmn.deviation_capa.checks import concerned_batches, resolve_batch
    from engine.links import link

    uow = _uow(context)
    out: dict[str, list[Any]] = {"linked": [], "unresolved": []}
    if uow is None:
        return out
    deviation_id = int(context.instance_id)
    skipped = {int(i) for i in skip if i not in (None, "")}
    done = set(concerned_batches(uow.session, deviation_id)) | skipped
    for reference in references:
        if isinstance(reference, Mapping):  # a form's row: {"batch": ...}
            reference = reference.get("batch")
        text = str(reference or "").strip()
        if not text:
            continue
        try:
            batch_id = resolve_batch(uow.session, text)
        except (InstanceNotFound, BusinessKeyError):
            out["unresolved"].append(text)
            continue
        if batch_id in done or batch_id == deviation_id:
            continue
        link(uow, deviation_id, "affects", batch_id, reason=reason, element_id=getattr(context, "element_id", None))
        done.add(batch_id)
        out["linked"].append({"batch": text, "instance_id": batch_id})
    return out


def intake(context: Any) -> dict[str, Any]:
    data = getattr(context, "task_data", None) or {}
    deviation = data.get("deviation")
    reported = isinstance(deviation, Mapping) and bool(str(deviation.get("title") or "").strip())
    result: dict[str, Any] = {"reported": reported, "linked": [], "unresolved": []}
    if not reported:
        return result
    found = deviation.get("context") if isinstance(deviation.get("context"), Mapping) else {}
    references = [found.get("batch"), deviation.get("batch")] + list(found.get("impacted_batches") or [])
    source = deviation.get("source_instance_id")
    result.update(link_affected(context, references, reason="named in the deviation report",
                                skip=[source] if isinstance(source, int) else []))
    return result


def link_batches(context: Any, batches: list[Any] | None = None) -> dict[str, Any]:
    return link_affected(context, batches or [], reason="affected batch named at QA triage")


def _reason(key: str, action: Mapping[str, Any]) -> str:
    return f"CAPA {key}: {str(action.get('description') or '').strip()}"[:500]


def start_capa_links(context: Any, actions: list[Any] | None = None) -> list[dict[str, Any]]:
    from engine.business_keys import key_of

    key = _key(context)
    out = []
    for action in actions or []:
        row = dict(action) if isinstance(action, Mapping) else {"description": str(action)}
        starts = row.get("starts") or "none"
        started = None
        if starts == "document_revision":
            started = DOCUMENT_PROCESS, {"document": {"code": str(row.get("document") or "").strip(),
                                                      "reason": _reason(key, row), "capa": key}}
        elif starts == "retraining":
            started = TRAINING_PROCESS, {"training": {
                "trainee": str(row.get("trainee") or "").strip(),
                "documents": [{"code": str(row.get("document") or "").strip(),
                               "version": row.get("document_version")}],
                "trigger": "capa", "reason": _reason(key, row)}}
        if started is not None and not row.get("linked"):
            process, data = started
            instance_id = int(context.start_linked_process(process, data, "started_by"))
            uow = _uow(context)
            row["linked"] = {"process": process, "instance_id": instance_id,
                             "business_key": key_of(uow.session, instance_id) if uow is not None else None}
        out.append(row)
    return out


def record_closure(context: Any, dispositions: list[Any] | None = None) -> dict[str, list[str]]:
    from bpmn.deviation_capa.checks import resolve_batch

    uow = _uow(context)
    out: dict[str, list[str]] = {"release": [], "reject": []}
    for row in dispositions or []:
        if not isinstance(row, Mapping):
            continue
        batch, disposition = str(row.get("batch") or "").strip(), str(row.get("disposition") or "")
        out.setdefault(disposition, []).append(batch)
        if uow is not None:
            batch_id = resolve_batch(uow.session, batch)
            uow.audit("deviation.batch_disposition", "process_instance", context.instance_id,
                      reason=str(row.get("rationale") or "") or None,
                      details={"deviation": _key(context), "batch": batch, "batch_instance_id": batch_id,
                               "disposition": disposition})
    return out


def register(registry: Any) -> None:
    """Add the operators to an engine runtime's operator registry (once)."""
    if "deviation.intake" in registry:
        return
    registry.register("deviation.intake", intake, (),
                      description="Take in a deviation report; link the batches its context names (affects).")
    registry.register("deviation.link_batches", link_batches, (
        Param("batches", "list", required=False, description="batch numbers or instance references"),),
        description="Link further affected batches to the deviation (affects): they go on hold.")
    registry.register("deviation.start_capa_links", start_capa_links, (
        Param("actions", "list", description="the approved CAPA actions"),),
        description="Start the document revisions and retrainings the CAPA actions ask for, linked started_by.")
    registry.register("deviation.record_closure", record_closure, (
        Param("dispositions", "list", description="rows of batch, disposition (release | reject), rationale"),),
        description="Record each concerned batch's disposition at the deviation's closure.")
