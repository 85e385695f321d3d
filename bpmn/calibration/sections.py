"""The calibration work order's sections of its executed record (engine.record_sections; rendered
by the one record renderer, web/records.py, and shown beside each task of the work order),
registered by `install`:

    Work order    instrument, equipment served, reference standard, tolerance, planned test
                  points, how the readings were taken, the as-found result, the adjustment(s),
                  the out-of-tolerance deviation with its impacted batches, what was recorded
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
            ("Tolerance (允差)", f"±{order.get('tolerance')} {unit}"),
            ("Planned test points (计划测试点)", f"{', '.join(order.get('test_points') or [])} {unit}"),
            ("Readings (读数方式)", "read over the connector (连接器读取): " + f"{order.get('tag')}, "
             f"{order.get('reference_tag')}" if order.get("connected") else
             "entered by hand, verified by a second person (手工录入, 第二人复核)"),
            ("Due before this work order (原到期日)", f"{order.get('due_on') or '-'} ({order.get('status')})")]
    evaluation = _latest(steps, "evaluation")
    if isinstance(evaluation, Mapping):
        rows.append(("As found (校前)", f"{evaluation.get('result')}, largest error {evaluation.get('max_error')} {unit}"))
    adjustments = [data.get("adjustment") for bpmn_id, data in steps
                   if bpmn_id in ("adjust_instrument", "adjust") and data.get("adjustment")]
    for number, text in enumerate(dict.fromkeys(adjustments), start=1):
        rows.append((f"Adjustment {number} (调整)", text))
    as_left = _latest(steps, "as_left_evaluation")
    if isinstance(as_left, Mapping) and isinstance(evaluation, Mapping) and evaluation.get("result") != "pass":
        rows.append(("As left (校后)", f"{as_left.get('result')}, largest error {as_left.get('max_error')} {unit}"))
    oot = _latest(steps, "oot")
    if isinstance(oot, Mapping):
        rows.append(("Out-of-tolerance deviation (超差偏差)", _key(session, oot.get("deviation_instance"))))
        rows.append(("Batches since the last good calibration (上次合格校准以来的批次)",
                     ", ".join(oot.get("impacted_batches") or []) or "none (无)"))
    review = _latest(steps, "decision")
    if review:
        rows.append(("Review (审核)", f"{review}: {_latest(steps, 'review_comment') or ''}".rstrip(": ")))
    recorded = _latest(steps, "recorded")
    if isinstance(recorded, Mapping):
        rows.append(("Recorded (已记录)", f"calibrated on {recorded.get('calibrated_on')}, next due "
                     f"{recorded.get('due_on')}, status {recorded.get('status')}"))
    return {"columns": COLUMNS, "rows": [{"item": item, "value": str(value)} for item, value in rows]}


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
        found[str(point.get("nominal"))] = (f"equipment: {tag}" if point.get("source") == "equipment" and tag else
                                            "entered by hand, verified")
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
                         "within": "yes" if point.get("within") else "NO",
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
            "rows": rows, "notes": ["Error = instrument reading - reference value, in exact decimals."]}


SECTIONS = (
    RecordSection(PROCESS, "work_order", "Calibration work order", "校准工单", work_order, order=10),
    RecordSection(PROCESS, "test_points", "Test points", "测试点", test_points, order=20),
)


def register(runtime: Any) -> None:
    runtime.record_sections.register_missing(SECTIONS)
