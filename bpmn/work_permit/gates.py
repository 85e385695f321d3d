"""The permit's gates: what must hold before a request is accepted, a checklist signed, a
permit issued and a hand-back accepted. Each refusal names what is missing, with a code
and parameters the web interface translates (N_ templates, web.i18n.refusal_text).

    permit_request    (at completion of the request) the time window is sound and the crew
                      approved and trained for the work type (crew.crew_problems)
    permit_hazards    (at completion of a hazard assessment) every measure of the work type's
                      checklist confirmed in place
    permit_issue      (when the issue task is opened and at its completion) the EHS officer is
                      not the area owner who approved; every isolation point was read isolated
                      and reads isolated again now; the gas test passed and is recent; the
                      window has not passed
    permit_handback   (at the area owner's hand-back) every isolation point reads restored now
                      and the area owner is not the requester who signed the hand-back
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import select

from bpmn.work_permit import crew, readings, rules
from connectors.operators import ConnectorEnvironment, environment_of
from core import clock
from engine.gates import Gate, GateContext
from engine.models import InstanceTask
from forms.errors import N_
from signatures.service import signatures_for

REQUEST_GATE, HAZARDS_GATE, ISSUE_GATE, HANDBACK_GATE = "permit_request", "permit_hazards", "permit_issue", "permit_handback"
GAS_TEST_VALID = timedelta(hours=2)  # a gas test older than this at issue must be repeated

WINDOW_CODES = {
    "window_invalid": N_("the permit window must give its start and end as date and time (%(value)s)"),
    "window_order": N_("the permit window ends (%(until)s) before it starts (%(since)s)"),
    "window_past": N_("the permit window has already ended (%(until)s)"),
    "window_too_long": N_("a permit is valid for at most %(hours)s hours; this window is %(length)s hours"),
    "unknown_work_type": N_("unknown work type %(work_type)s"),
}
HAZARD_CODES = {
    "measures_missing": N_("%(count)s measure(s) of the %(work_type)s checklist not confirmed in place: %(measures)s"),
}
ISSUE_CODES = {
    "same_approver": N_("%(name)s approved this permit as area owner: the EHS approval must be another person's"),
    "isolation_not_verified": N_("the isolation points have not been read isolated from the equipment"),
    "not_isolated": N_("isolation point %(tag)s reads %(value)s now: it is not isolated; the permit cannot be issued"),
    "gas_not_tested": N_("the gas test has not been done"),
    "gas_out_of_range": N_("the gas test is out of range (%(gases)s): the permit cannot be issued"),
    "gas_test_stale": N_("the gas test was done at %(tested_at)s, more than %(hours)s hours ago: test again"),
    "window_ended": N_("the permit window ended at %(until)s: the permit can no longer be issued"),
}
HANDBACK_CODES = {
    "isolation_not_removed": N_("isolation point %(tag)s reads %(value)s now: it has not been restored; the area "
                                "cannot be handed back"),
    "area_not_inspected": N_("the area must be inspected and cleared of tools, materials and waste before it is "
                             "accepted back"),
    "same_person": N_("%(name)s signed the hand-back as requester: the area owner's acceptance must be another "
                      "person's"),
}


def _data(ctx: GateContext) -> dict[str, Any]:
    return {**dict(ctx.instance_data), **dict(ctx.data)}


def parse_when(value: Any) -> datetime | None:
    """A date and time as entered ("2026-12-03 14:00", ISO 8601 with or without seconds; UTC unless a
    zone is given), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        found = datetime.fromisoformat(value.strip().replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.replace(tzinfo=timezone.utc) if found.tzinfo is None else found.astimezone(timezone.utc)


def _window(ctx: GateContext, data: Mapping[str, Any]) -> datetime:
    since, until = parse_when(data.get("valid_from")), parse_when(data.get("valid_until"))
    if since is None or until is None:
        raise ctx.refuse("window_invalid", value=f"{data.get('valid_from')} - {data.get('valid_until')}")
    if until <= since:
        raise ctx.refuse("window_order", since=clock.isoformat(since), until=clock.isoformat(until))
    if until <= clock.now():
        raise ctx.refuse("window_past", until=clock.isoformat(until))
    length = (until - since).total_seconds() / 3600
    if length > rules.MAX_WINDOW_HOURS:
        raise ctx.refuse("window_too_long", hours=rules.MAX_WINDOW_HOURS, length=f"{length:g}")
    return until


def _request(ctx: GateContext) -> None:
    data = _data(ctx)
    work_type = str(data.get("work_type") or "")
    if work_type not in rules.WORK_TYPES:
        raise ctx.refuse("unknown_work_type", work_type=work_type or "-")
    until = _window(ctx, data)
    problems = crew.crew_problems(ctx.uow.session, data.get("crew") or [], work_type, until)
    if problems:
        raise ctx.refuse(problems[0].code, **problems[0].params)


def _hazards(ctx: GateContext) -> None:
    data = _data(ctx)
    work_type = str(data.get("work_type") or "")
    if work_type not in rules.WORK_TYPES:
        raise ctx.refuse("unknown_work_type", work_type=work_type or "-")
    missing = rules.missing_measures(work_type, ctx.data)
    if missing:
        raise ctx.refuse("measures_missing", count=len(missing), work_type=rules.WORK_TYPES[work_type][0],
                         measures="; ".join(m[1] for m in missing))


def signers(session: Any, instance_id: int, bpmn_id: str, meaning: str) -> list[tuple[str, str]]:
    """(user id, printed name) of each `meaning` signature given at the instance's tasks `bpmn_id`."""
    task_ids = session.execute(select(InstanceTask.id).where(InstanceTask.instance_id == instance_id,
                                                             InstanceTask.bpmn_id == bpmn_id)).scalars().all()
    return [(s.signer_id, s.printed_name) for tid in task_ids for s in signatures_for(session, "task", tid)
            if s.meaning == meaning]


def _issue(env: ConnectorEnvironment | None, ctx: GateContext) -> None:
    data = _data(ctx)
    session = ctx.uow.session
    for user_id, name in signers(session, ctx.instance_id, "area_approval", "approved"):
        if user_id == ctx.user_id:
            raise ctx.refuse("same_approver", name=name)
    plan = data.get("permit") or {}
    until = parse_when(plan.get("valid_until") or data.get("valid_until"))
    if until is not None and until <= clock.now():
        raise ctx.refuse("window_ended", until=clock.isoformat(until))
    if plan.get("needs_isolation", True):
        check = data.get("isolation_check") or {}
        if not check.get("all_ok") or check.get("expect") != readings.ISOLATED:
            raise ctx.refuse("isolation_not_verified")
        for point in readings.live_points(environment_of(ctx, env), ctx.uow, data.get("points") or [],
                                          readings.ISOLATED):
            if not point["ok"]:
                raise ctx.refuse("not_isolated", tag=point["tag"], value=_shown(point))
    if plan.get("needs_gas_test", True):
        gas = data.get("gas_test") or {}
        if not gas.get("readings"):
            raise ctx.refuse("gas_not_tested")
        if not gas.get("all_ok"):
            raise ctx.refuse("gas_out_of_range", gases=", ".join(gas.get("out_of_range") or []))
        tested = parse_when(gas.get("tested_at"))
        if tested is None or clock.now() - tested > GAS_TEST_VALID:
            raise ctx.refuse("gas_test_stale", tested_at=gas.get("tested_at"), hours=f"{GAS_TEST_VALID.seconds // 3600}")


def _shown(point: Mapping[str, Any]) -> str:
    if point.get("error"):
        return "nothing (" + str(point["error"]) + ")"
    return str(point.get("value"))


def _handback(env: ConnectorEnvironment | None, ctx: GateContext) -> None:
    data = _data(ctx)
    for user_id, name in signers(ctx.uow.session, ctx.instance_id, "handback_requester", "handed_back"):
        if user_id == ctx.user_id:
            raise ctx.refuse("same_person", name=name)
    if ctx.stage == "complete" and (ctx.data.get("area_inspected") is not True or ctx.data.get("housekeeping") is not True):
        raise ctx.refuse("area_not_inspected")
    if (data.get("permit") or {}).get("needs_isolation", True) and data.get("points"):
        for point in readings.live_points(environment_of(ctx, env), ctx.uow, data["points"], readings.RESTORED):
            if not point["ok"]:
                raise ctx.refuse("isolation_not_removed", tag=point["tag"], value=_shown(point))


def gates(env: ConnectorEnvironment | None) -> list[Gate]:
    return [
        Gate(REQUEST_GATE, _request, codes={**WINDOW_CODES, **crew.CREW_CODES}, stages=("complete",),
             description="permit request: time window and crew approved and trained"),
        Gate(HAZARDS_GATE, _hazards, codes={**HAZARD_CODES, "unknown_work_type": WINDOW_CODES["unknown_work_type"]},
             stages=("complete",), description="permit: every measure of the hazard checklist in place"),
        Gate(ISSUE_GATE, lambda ctx: _issue(env, ctx), codes=ISSUE_CODES, stages=("open", "complete"),
             description="permit issue: isolations read isolated now, gas test in range, two approvers"),
        Gate(HANDBACK_GATE, lambda ctx: _handback(env, ctx), codes=HANDBACK_CODES, stages=("open", "complete"),
             description="permit hand-back: isolations read restored now, two signers"),
    ]
