"""The calibration work order's sections of its executed record (engine.record_sections; rendered
by the one record renderer, web/records.py, and shown beside each task of the work order),
registered by `install`:

    Work order    instrument, equipment served, reference standard, tolerance, planned test
                  points, how the readings were taken, the as-found result, the adjustment(s),
                  the out-of-tolerance deviation with its impacted batches, what was recorded
    Test points to apply   while the technician applies test points over the connector (as found,
                  or as left after an adjustment): each planned point with the reading taken or
                  "next" for the one to apply now (absent once the round is evaluated)
    Test points   every evaluated round (as found, then each as-left round after an adjustment):
                  nominal, reference, reading, error, within tolerance, where the reading came from

Read from the instance's task data (completed steps); JSON-able; tolerant of an empty `record`.
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select

from engine.record_sections import RecordSection

PROCESS = "calibration"
COMPLETED = 64
COLUMNS = [{"key": "item", "label_en": "Item", "label_zh": "项目"}, {"key": "value", "label_en": "Value", "label_zh": "内容"}]


def _steps(session: Any, instance_id: int) -> list[tuple[str, dict[str, Any]]]:
    """(bpmn id, data) of each named task of the instance, oldest first (waiting and ready ones too)."""
    from engine.models import InstanceTask
    from engine.spiff.serializer import row_data

    rows = session.execute(select(InstanceTask.bpmn_id, InstanceTask.body, InstanceTask.state).where(
        InstanceTask.instance_id == instance_id, InstanceTask.dropped.is_(False), InstanceTask.bpmn_id.is_not(None),
        InstanceTask.state >= 8, InstanceTask.state <= COMPLETED).order_by(InstanceTask.seq)).all()
    return [(bpmn_id, dict(row_data(body))) for bpmn_id, body, _state in rows]


def _latest(steps: list[tuple[str, dict[str, Any]]], name: str) -> Any:
    for _bpmn_id, data in reversed(steps):
        if data.get(name) not in (None, "", [], {}):
            return data[name]
    return None


def work_order(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    steps = _steps(session, instance_id)
    order = _latest(steps, "work_order")
    if not isinstance(order, Mapping):
        return None
    unit = order.get("unit") or ""
    rows = [("Instrument (仪表)", f"{order.get('instrument')} {order.get('name') or ''}".strip()),
            ("Equipment served (所服务设备)", ", ".join(order.get("equipment") or []) or "none (无)"),
            ("Reference standard (标准器)", _latest(steps, "reference_standard") or ""),
            ("Range (量程)", f"{order.get('range_min')} – {order.get('range_max')} {unit}"
             if order.get("range_min") is not None else "-"),
            ("Tolerance (允差)", f"±{order.get('tolerance')} {unit}"),
            ("Planned test points (计划测试点)", f"{', '.join(order.get('test_points') or [])} {unit}"),
            ("Readings (读数方式)", "read over the connector (连接器读取): " + f"{order.get('tag')}, "
             f"{order.get('reference_tag')}" if order.get("connected") else
             "entered by hand, verified by a second person (手工录入, 第二人复核)"),
            ("Due before this work order (原到期日)", f"{order.get('due_on') or '-'}, {_word(order.get('status'))}")]
    evaluation = _latest(steps, "evaluation")
    if isinstance(evaluation, Mapping):
        rows.append(("As found (校前)", f"{_word(evaluation.get('result'))}, largest error {evaluation.get('max_error')} {unit}"))
    adjustments = [data.get("adjustment") for bpmn_id, data in steps
                   if bpmn_id in ("adjust_instrument", "adjust") and data.get("adjustment")]
    for number, text in enumerate(dict.fromkeys(adjustments), start=1):
        rows.append((f"Adjustment {number} (调整)", text))
    as_left = _latest(steps, "as_left_evaluation")
    if isinstance(as_left, Mapping) and isinstance(evaluation, Mapping) and evaluation.get("result") != "pass":
        rows.append(("As left (校后)", f"{_word(as_left.get('result'))}, largest error {as_left.get('max_error')} {unit}"))
    oot = _latest(steps, "oot")
    if isinstance(oot, Mapping):
        rows.append(("Out-of-tolerance deviation (超差偏差)", _key(session, oot.get("deviation_instance"))))
        rows.append(("Batches since the last good calibration (上次合格校准以来的批次)",
                     ", ".join(oot.get("impacted_batches") or []) or "none (无)"))
    review = _latest(steps, "decision")
    if review:
        rows.append(("Review (审核)", f"{_word(review)}: {_latest(steps, 'review_comment') or ''}".rstrip(": ")))
    recorded = _latest(steps, "recorded")
    if isinstance(recorded, Mapping):
        rows.append(("Recorded (已记录)", f"calibrated on {recorded.get('calibrated_on')}, next due "
                     f"{recorded.get('due_on')}, status {_word(recorded.get('status'))}"))
    return {"columns": COLUMNS, "rows": [{"item": item, "value": str(value)} for item, value in rows]}


def _word(code: Any) -> str:
    """A result or instrument status as a person reads it, in both languages ("Out of tolerance (超出允差)")."""
    from masterdata.calibration import STATUS_LABELS

    labels = {"pass": ("Pass", "合格"), "accepted": ("Accepted", "通过"),
              "returned": ("Returned: calibrate again", "退回重新校准"), **STATUS_LABELS}
    if code not in labels:
        return str(code)
    en, zh = labels[code]
    return f"{en} ({zh})"


def _key(session: Any, instance_id: Any) -> str:
    from engine.runtime_models import BusinessKey

    try:
        found = session.scalar(select(BusinessKey.business_key).where(BusinessKey.instance_id == int(instance_id)))
    except (TypeError, ValueError):
        found = None
    return str(found or f"#{instance_id}")


def _sources(points: Any, reading: str) -> dict[str, str]:
    found = {}
    for point in points or []:
        if not isinstance(point, Mapping):
            continue
        tag = (point.get("instrument_reading") or {}).get("tag")
        found[str(point.get("nominal"))] = (f"equipment (设备): {tag}" if point.get("source") == "equipment" and tag
                                            else "entered by hand, verified (手工录入, 已复核)")
    return found


def test_points(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    steps = _steps(session, instance_id)
    rows: list[dict[str, Any]] = []
    unit = ""
    left_round = 0
    for bpmn_id, data in steps:
        if bpmn_id == "evaluate" and isinstance(data.get("evaluation"), Mapping):
            evaluation, reading, label = data["evaluation"], "as_found", "as found (校前)"
            sources = _sources(data.get("points"), reading)
        elif bpmn_id == "evaluate_as_left" and isinstance(data.get("as_left_evaluation"), Mapping):
            left_round += 1
            evaluation, reading, label = data["as_left_evaluation"], "as_left", f"as left {left_round} (校后)"
            sources = _sources(data.get("as_left"), reading)
        else:
            continue
        unit = evaluation.get("unit") or unit
        for point in evaluation.get("points") or []:
            rows.append({"reading": label, "nominal": point.get("nominal"), "reference": point.get("reference"),
                         "value": point.get(reading), "error": point.get("error"),
                         "within": "yes (是)" if point.get("within") else "NO (否)",
                         "source": sources.get(str(point.get("nominal")), "")})
    if not rows:
        return None
    return {"columns": [{"key": "reading", "label_en": "Reading", "label_zh": "读数类型"},
                        {"key": "nominal", "label_en": "Test point", "label_zh": "测试点", "unit": unit},
                        {"key": "reference", "label_en": "Reference", "label_zh": "标准值", "unit": unit},
                        {"key": "value", "label_en": "Instrument", "label_zh": "仪表读数", "unit": unit},
                        {"key": "error", "label_en": "Error", "label_zh": "误差", "unit": unit},
                        {"key": "within", "label_en": "Within tolerance", "label_zh": "在允差内"},
                        {"key": "source", "label_en": "Source", "label_zh": "来源"}],
            "rows": rows, "notes": ["Error = instrument reading - reference value, in exact decimals "
                                     "(误差 = 仪表读数 - 标准值, 精确小数)."]}


APPLY_TASKS = {"apply_point": ("points", "as_found"), "apply_left_point": ("as_left", "as_left")}


def points_to_apply(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The planned test points of the round being applied, those read so far and the next one;
    None unless a test point is waiting to be applied (the record of a finished work order has none)."""
    from engine.models import InstanceTask
    from engine.spiff.serializer import row_data
    from engine.tasks import READY

    ready = session.execute(select(InstanceTask.bpmn_id, InstanceTask.body).where(
        InstanceTask.instance_id == instance_id, InstanceTask.state == READY,
        InstanceTask.bpmn_id.in_(tuple(APPLY_TASKS))).order_by(InstanceTask.seq.desc())).first()
    if ready is None:
        return None
    data = dict(row_data(ready.body))
    order = data.get("work_order")
    if not isinstance(order, Mapping):
        return None
    unit = str(order.get("unit") or "")
    field, reading = APPLY_TASKS[ready.bpmn_id]
    done = {_number_text(p.get("nominal")): p for p in data.get(field) or [] if isinstance(p, Mapping)}
    rows, next_shown = [], False
    for number, planned in enumerate(order.get("test_points") or [], start=1):
        point = done.get(_number_text(planned))
        if point is not None:
            status, reference, value = "read (已读取)", point.get("reference"), point.get(reading)
        elif not next_shown:
            status, reference, value, next_shown = "NEXT: apply now (下一个: 现在施加)", "", "", True
        else:
            status, reference, value = "to apply (待施加)", "", ""
        rows.append({"number": number, "nominal": planned, "status": status, "reference": reference, "value": value})
    label = "As left (校后)" if reading == "as_left" else "As found (校前)"
    return {"columns": [{"key": "number", "label_en": "No.", "label_zh": "序号"},
                        {"key": "nominal", "label_en": "Test point", "label_zh": "测试点", "unit": unit},
                        {"key": "status", "label_en": "Status", "label_zh": "状态"},
                        {"key": "reference", "label_en": "Reference", "label_zh": "标准值", "unit": unit},
                        {"key": "value", "label_en": "Instrument", "label_zh": "仪表读数", "unit": unit}],
            "rows": rows,
            "notes": [f"{label}: apply each test point with the reference standard, then enter it below; the "
                      f"system reads both instruments. Tolerance ±{order.get('tolerance')} {unit}. "
                      f"(用标准器施加各测试点后在下方录入, 系统读取两台仪表; 允差 ±{order.get('tolerance')} {unit})"]}


def _number_text(value: Any) -> str:
    from decimal import Decimal, InvalidOperation

    try:
        return format(Decimal(str(value)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return str(value)


SECTIONS = (
    RecordSection(PROCESS, "work_order", "Calibration work order", "校准工单", work_order, order=10),
    RecordSection(PROCESS, "points_to_apply", "Test points to apply", "待施加的测试点", points_to_apply, order=15),
    RecordSection(PROCESS, "test_points", "Test points", "测试点", test_points, order=20),
)


def register(runtime: Any) -> None:
    runtime.record_sections.register_missing(SECTIONS)
