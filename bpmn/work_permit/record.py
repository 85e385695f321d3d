"""The permit's sections of the executed record (engine.record_sections; rendered by the one
record renderer, web/records.py): every isolation-point reading and every gas reading the
permit took, in the order taken, with tag, value, time and verdict.

    Isolation points   before issue (read_isolations), at each periodic re-check, at close-out
                       (read_removals): tag, lock number, value read, isolated or energised,
                       required state, ok, read at
    Gas tests          each test (detector over the connector, or entered by hand and verified)
                       and each re-test: gas, value, unit, limit, ok, source, tag, time
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select

from bpmn.work_permit.rules import PROCESS_KEY
from engine.models import InstanceTask
from engine.record_sections import RecordSection
from engine.spiff.serializer import row_data

COMPLETED = 64
ISOLATION_STEPS = {"read_isolations": ("isolation_check", "before issue", "签发前"),
                   "periodic_recheck": ("last_recheck", "re-check", "复查"),
                   "read_removals": ("removal_check", "close-out", "关闭时")}
GAS_STEPS = {"read_gas": "gas_test", "gas_entry": "gas_test", "periodic_recheck": "last_recheck"}


def _completed(session: Any, instance_id: int, bpmn_ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
    rows = session.execute(select(InstanceTask.bpmn_id, InstanceTask.body).where(
        InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id.in_(bpmn_ids), InstanceTask.state == COMPLETED,
        InstanceTask.dropped.is_(False)).order_by(InstanceTask.seq)).all()
    return [(bpmn_id, dict(row_data(body))) for bpmn_id, body in rows]


def _state(point: Mapping[str, Any]) -> str:
    if point.get("isolated") is None:
        return "not read: " + str(point.get("error") or "")
    return "isolated" if point["isolated"] else "energised"


def isolation_section(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = []
    for bpmn_id, data in _completed(session, instance_id, list(ISOLATION_STEPS)):
        variable, when_en, _when_zh = ISOLATION_STEPS[bpmn_id]
        check = data.get(variable) or {}
        if bpmn_id == "periodic_recheck":
            check = check.get("isolations") or {}
        for point in check.get("points") or []:
            rows.append({"step": when_en, "tag": point.get("tag"), "lock": point.get("lock_number"),
                         "value": point.get("value"), "state": _state(point), "required": check.get("expect"),
                         "ok": "yes" if point.get("ok") else "NO", "read_at": point.get("read_at")})
    if not rows:
        return None
    failed = sum(1 for r in rows if r["ok"] != "yes")
    return {"columns": [{"key": "step", "label_en": "Step", "label_zh": "步骤"},
                        {"key": "tag", "label_en": "Tag", "label_zh": "位号"},
                        {"key": "lock", "label_en": "Lock", "label_zh": "锁编号"},
                        {"key": "value", "label_en": "Value read", "label_zh": "读数"},
                        {"key": "state", "label_en": "State", "label_zh": "状态"},
                        {"key": "required", "label_en": "Required", "label_zh": "要求"},
                        {"key": "ok", "label_en": "OK", "label_zh": "合格"},
                        {"key": "read_at", "label_en": "Read at (UTC)", "label_zh": "读取时间（UTC）"}],
            "rows": rows,
            "notes": ["Each state was read from the equipment over the connector (stored as original readings); "
                      f"{failed} reading(s) did not show the required state and sent the step back."] if failed else
                     ["Each state was read from the equipment over the connector (stored as original readings)."]}


def gas_section(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    rows = []
    for bpmn_id, data in _completed(session, instance_id, list(GAS_STEPS)):
        test = data.get(GAS_STEPS[bpmn_id]) or {}
        if bpmn_id == "periodic_recheck":
            test = test.get("gas") or {}
        step = "re-test" if bpmn_id == "periodic_recheck" else "gas test"
        for reading in test.get("readings") or []:
            rows.append({"step": step, "gas": reading.get("gas"), "value": reading.get("value"),
                         "unit": reading.get("unit"), "limit": reading.get("limit"),
                         "ok": "yes" if reading.get("ok") else "NO",
                         "source": reading.get("source"), "tag": reading.get("tag") or test.get("detector"),
                         "at": reading.get("read_at")})
    if not rows:
        return None
    return {"columns": [{"key": "step", "label_en": "Step", "label_zh": "步骤"},
                        {"key": "gas", "label_en": "Gas", "label_zh": "气体"},
                        {"key": "value", "label_en": "Value", "label_zh": "读数"},
                        {"key": "unit", "label_en": "Unit", "label_zh": "单位"},
                        {"key": "limit", "label_en": "Limit", "label_zh": "限度"},
                        {"key": "ok", "label_en": "OK", "label_zh": "合格"},
                        {"key": "source", "label_en": "Source", "label_zh": "来源"},
                        {"key": "tag", "label_en": "Tag or detector", "label_zh": "位号或检测仪"},
                        {"key": "at", "label_en": "Read at (UTC)", "label_zh": "读取时间（UTC）"}],
            "rows": rows,
            "notes": ["Any reading out of range blocks the permit: the gas test is repeated until every gas is within "
                      "its limit; readings entered by hand were verified by a second person."]}


SUSPENSION_STEPS = ("periodic_recheck", "recheck_failed", "resume_work", "suspend")


def suspension_section(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every periodic re-check with its verdict, each suspension with its reason (a failed re-check,
    the window's end), what was done before a re-test, and each resumption."""
    rows: list[dict[str, Any]] = []
    suspended = False
    done = session.execute(select(InstanceTask.bpmn_id, InstanceTask.body, InstanceTask.updated_at).where(
        InstanceTask.instance_id == instance_id, InstanceTask.bpmn_id.in_(SUSPENSION_STEPS),
        InstanceTask.state == COMPLETED, InstanceTask.dropped.is_(False)).order_by(InstanceTask.seq)).all()
    for bpmn_id, body, updated_at in done:
        data = dict(row_data(body))
        if bpmn_id == "periodic_recheck":
            check = data.get("last_recheck") or {}
            if check.get("ok"):
                rows.append({"at": check.get("at"), "event": "re-check passed: work resumes" if suspended else
                             "re-check passed", "why": ""})
                suspended = False
            else:
                rows.append({"at": check.get("at"), "event": "re-check FAILED",
                             "why": "; ".join(check.get("problems") or [])})
        elif bpmn_id == "recheck_failed":
            stopped = data.get("stopped") or {}
            raised = stopped.get("deviation")
            rows.append({"at": stopped.get("suspended_at"), "event": "work SUSPENDED, crew told to stop",
                         "why": (stopped.get("reason") or "") + (f" (deviation #{raised})" if raised else
                                                                 " (exception recorded)")})
            suspended = True
        elif bpmn_id == "resume_work":
            step = "re-test requested" if data.get("next_step") != "close_out" else "not resumed: close-out"
            rows.append({"at": updated_at, "event": step,
                         "why": f"cause: {data.get('cause')}; done: {data.get('action_taken')}"})
        elif bpmn_id == "suspend":
            suspension = data.get("suspension") or {}
            rows.append({"at": suspension.get("suspended_at"), "event": "work SUSPENDED: window ended",
                         "why": suspension.get("reason")})
    if not rows:
        return None
    for row in rows:  # 2026-01-05T09:06:41.000000Z -> 2026-01-05 09:06:41
        row["at"] = str(row["at"] or "")[:19].replace("T", " ")
    return {"columns": [{"key": "at", "label_en": "At (UTC)", "label_zh": "时间（UTC）"},
                        {"key": "event", "label_en": "Event", "label_zh": "事件"},
                        {"key": "why", "label_en": "Why", "label_zh": "原因"}],
            "rows": rows,
            "notes": ["A failed re-check withdraws the work task: the work resumes only after a re-test passes."]}


SECTIONS = (
    RecordSection(process=PROCESS_KEY, key="isolations", title_en="Isolation points read from the plant",
                  title_zh="从设备读取的隔离点", build=isolation_section, order=10),
    RecordSection(process=PROCESS_KEY, key="gas_tests", title_en="Gas tests", title_zh="气体检测", build=gas_section,
                  order=20),
    RecordSection(process=PROCESS_KEY, key="suspensions", title_en="Re-checks, suspensions and resumptions",
                  title_zh="复查、暂停与恢复", build=suspension_section, order=30),
)


def register(runtime: Any) -> None:
    """Add the sections to the runtime's record (once: a runtime extended twice keeps the first)."""
    runtime.record_sections.register_missing(SECTIONS)
