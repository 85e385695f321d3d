"""The deviation's own sections of its executed record (engine.record_sections), registered by
`install`: what was reported (with the context of a raised deviation), the classification and
investigation owner, and the CAPA actions with what each started. Read from the instance's
task data; JSON-able; shown on the record page, its PDF and JSON, and beside each task of the
deviation so the person doing it sees what it is about.
"""
from __future__ import annotations

from typing import Any, Mapping

from engine.record_sections import RecordSection

PROCESS = "deviation"
REPORT_FIELDS = (
    ("title", "Title", "标题"), ("description", "Description", "描述"), ("occurred_on", "Happened on", "发生日期"),
    ("location", "Where", "地点"), ("batch", "Batch", "批次"), ("equipment", "Equipment", "设备"),
    ("material", "Material or lot", "物料或批号"), ("immediate_action", "Immediate action", "紧急措施"),
    ("severity", "Proposed class", "建议分类"), ("reported_by", "Reported by", "报告人"),
)
CONTEXT_FIELDS = (
    ("source_kind", "Raised from", "来源"), ("batch", "Batch", "批次"), ("step", "Step", "步骤"), ("tag", "Tag", "位号"),
    ("value", "Value", "数值"), ("limit_low", "Lower limit", "下限"), ("limit_high", "Upper limit", "上限"),
    ("unit", "Unit", "单位"), ("instrument", "Instrument", "仪表"), ("equipment", "Equipment", "设备"),
    ("supplier", "Supplier", "供应商"), ("material", "Material", "物料"), ("lot", "Lot", "批号"),
    ("impacted_batches", "Impacted batches", "受影响批次"),
)
TRIAGE_FIELDS = (
    ("classification", "Classification", "分类"), ("severity", "Severity", "严重性"),
    ("occurrence", "Occurrence", "发生频率"), ("detectability", "Detectability", "可检测性"),
    ("investigation_owner", "Investigation owner", "调查负责人"), ("investigation_due", "Investigation due", "调查截止"),
    ("root_cause", "Root cause", "根本原因"), ("root_cause_category", "Root cause category", "根本原因类别"),
)
COLUMNS = [{"key": "item", "label_en": "Item", "label_zh": "项目"}, {"key": "value", "label_en": "Value", "label_zh": "内容"}]


def _task_data(session: Any, instance_id: int) -> list[dict[str, Any]]:
    from bpmn.deviation_capa.overview import _data, _tasks

    return [_data(row) for row in _tasks(session, [instance_id])[instance_id]]


def _latest(found: list[dict[str, Any]], name: str) -> Any:
    for data in reversed(found):
        if data.get(name) not in (None, "", [], {}):
            return data[name]
    return None


def _start_data(session: Any, instance_id: int) -> dict[str, Any]:
    import json

    from engine.models import ProcessInstance

    instance = session.get(ProcessInstance, instance_id)
    try:
        header = json.loads(instance.workflow_json) if instance is not None else {}
    except ValueError:
        return {}
    data = header.get("data") if isinstance(header, dict) else None
    return data if isinstance(data, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def report(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    found = _task_data(session, instance_id)
    deviation = _latest(found, "deviation") or _start_data(session, instance_id).get("deviation")
    if not isinstance(deviation, Mapping):
        return None
    rows = [{"item": f"{en} ({zh})", "value": _text(deviation[key])} for key, en, zh in REPORT_FIELDS
            if deviation.get(key) not in (None, "", [])]
    context = deviation.get("context") if isinstance(deviation.get("context"), Mapping) else {}
    shown = {(row["item"], row["value"]) for row in rows}
    rows += [{"item": f"{en} ({zh})", "value": _text(context[key])} for key, en, zh in CONTEXT_FIELDS
             if context.get(key) not in (None, "", []) and (f"{en} ({zh})", _text(context[key])) not in shown]
    rows += [{"item": f"{en} ({zh})", "value": _text(value)} for key, en, zh in TRIAGE_FIELDS
             if (value := _latest(found, key)) not in (None, "")]
    return {"columns": COLUMNS, "rows": rows}


def actions(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    plan = _latest(_task_data(session, instance_id), "capa_actions")
    if not isinstance(plan, list) or not plan:
        return None
    rows = []
    for number, action in enumerate(plan, start=1):
        if not isinstance(action, Mapping):
            continue
        linked = action.get("linked") if isinstance(action.get("linked"), Mapping) else {}
        rows.append({"number": number, "kind": action.get("kind"), "description": action.get("description"),
                     "owner": action.get("owner"), "due": action.get("due"),
                     "started": linked.get("business_key") or (f"#{linked['instance_id']}" if linked.get("instance_id")
                                                               else "")})
    return {"columns": [{"key": "number", "label_en": "#", "label_zh": "#"},
                        {"key": "kind", "label_en": "Kind", "label_zh": "类型"},
                        {"key": "description", "label_en": "Action", "label_zh": "措施"},
                        {"key": "owner", "label_en": "Owner", "label_zh": "负责人"},
                        {"key": "due", "label_en": "Due", "label_zh": "截止"},
                        {"key": "started", "label_en": "Started", "label_zh": "已启动"}], "rows": rows}


SECTIONS = (
    RecordSection(PROCESS, "report", "Deviation report", "偏差报告", report, order=10),
    RecordSection(PROCESS, "capa_actions", "CAPA actions", "CAPA 措施", actions, order=20),
)
