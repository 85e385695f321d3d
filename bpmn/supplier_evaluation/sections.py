"""The supplier evaluation's sections of its executed record (engine.record_sections; rendered by
the one record renderer, web/records.py, and shown beside each task of the evaluation so the
person doing it sees what it is about), registered by `install`:

    Evaluation        the request (supplier, material, criticality, scope), the questionnaire,
                      the performance computed from the system and the risk from the decision table
    Audit             the audit of a high-risk supplier: date, outcome, each finding with its CAPA
    Qualification lots  each lot QC tested with its result
    Decision          the signed decision, validity, conditions, and the approved supplier list
                      entry it drafted (and whether it is in force)

Read from the instance's task data; JSON-able; tolerant of an empty `record` (the task page).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from sqlalchemy import select

from engine.record_sections import RecordSection

PROCESS = "supplier_evaluation"
COLUMNS = [{"key": "item", "label_en": "Item", "label_zh": "项目"}, {"key": "value", "label_en": "Value", "label_zh": "内容"}]
CHOICES = {
    "criticality": {"high": "high (高)", "medium": "medium (中)", "low": "low (低)"},
    "certification": {"gmp": "GMP certificate (GMP 证书)", "iso9001": "ISO 9001", "none": "none (无)"},
    "history": {"new": "new supplier (新供应商)", "good": "good (良好)", "fair": "fair (一般)", "poor": "poor (差)"},
    "risk": {"high": "HIGH: audit required (高:需审计)", "medium": "medium (中)", "low": "low (低)"},
    "audit_outcome": {"satisfactory": "satisfactory (满意)", "unsatisfactory": "unsatisfactory (不满意)"},
    "decision": {"approved": "approved (批准)", "conditional": "conditionally approved (有条件批准)",
                 "rejected": "rejected (拒绝)"},
    "result": {"pass": "complies (符合)", "fail": "does not comply (不符合)"},
    "qualification_result": {"pass": "qualified (合格)", "fail": "not qualified (不合格)"},
}


def _task_data(session: Any, instance_id: int) -> list[dict[str, Any]]:
    """The data of each named task of the instance, oldest first."""
    from engine.models import InstanceTask

    rows = session.scalars(select(InstanceTask.body).where(
        InstanceTask.instance_id == instance_id, InstanceTask.dropped.is_(False), InstanceTask.bpmn_id.is_not(None))
        .order_by(InstanceTask.seq)).all()
    found = []
    for body in rows:
        try:
            data = json.loads(body).get("data")
        except (TypeError, ValueError, AttributeError):
            continue
        if isinstance(data, dict):
            found.append(data)
    return found


def _latest(found: list[dict[str, Any]], name: str) -> Any:
    for data in reversed(found):
        if data.get(name) not in (None, "", [], {}):
            return data[name]
    return None


def _show(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes (是)" if value else "no (否)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none (无)"
    return CHOICES.get(name, {}).get(str(value), str(value))


def _rows(found: list[dict[str, Any]], fields: tuple[tuple[str, str, str], ...]) -> list[dict[str, Any]]:
    return [{"item": f"{en} ({zh})", "value": _show(key, value)} for key, en, zh in fields
            if (value := _latest(found, key)) not in (None, "")]


REQUEST_FIELDS = (
    ("supplier", "Supplier", "供应商"), ("material", "Material", "物料"), ("scope", "Scope", "范围"),
    ("criticality", "Criticality", "关键程度"), ("quality_system", "Quality system", "质量体系"),
    ("certification", "Certified quality system", "质量体系认证"), ("certificates", "Certificates", "证书"),
    ("change_notification", "Notifies changes before they are made", "变更前通知"),
)
PERFORMANCE_FIELDS = (
    ("lots_received", "Lots received", "已收批次"), ("lots_rejected", "Lots rejected by QC", "QC 拒收批次"),
    ("deviations", "Deviations", "偏差"), ("oos_results", "Out-of-specification results", "OOS 结果"),
    ("complaints", "Complaints", "投诉"), ("history", "History", "历史"),
    ("computed_on", "Computed from the system on", "系统计算日期"),
)


TRIGGERS = {"new_supplier": "new supplier (新供应商)", "new_material": "new material or service (新物料或服务)",
            "change_at_supplier": "change at the supplier (供应商变更)",
            "quality_issue": "quality issue (质量问题)", "other": "other (其他)"}


def _named(session: Any, kind: str, code: Any) -> str:
    """'Indo Cellulose (SUP-INDO)': the name in the master data in force with the code (the code alone if none)."""
    from masterdata import changes

    found = changes.effective(session, kind, str(code)) if code else None
    name = (found.data or {}).get("name") if found is not None else None
    return f"{name} ({code})" if name and name != code else str(code)


def evaluation(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    found = _task_data(session, instance_id)
    started = _latest(found, "evaluation")
    started = started if isinstance(started, Mapping) else {}
    rows = _rows(found, REQUEST_FIELDS)
    have = {row["item"] for row in rows}
    for key, en, zh in REQUEST_FIELDS[:2]:  # supplier and material, before the request is completed too
        if f"{en} ({zh})" not in have and started.get(key):
            rows.insert(0 if key == "supplier" else 1, {"item": f"{en} ({zh})", "value": str(started[key])})
    for row in rows:
        for key, en, zh in REQUEST_FIELDS[:2]:
            if row["item"] == f"{en} ({zh})":
                row["value"] = _named(session, key, row["value"])
    if started.get("trigger"):
        rows.append({"item": "Trigger (触发原因)", "value": TRIGGERS.get(str(started["trigger"]), str(started["trigger"]))})
    if started.get("reason"):
        rows.append({"item": "Reason (理由)", "value": str(started["reason"])})
    if not rows:
        return None
    performance = _latest(found, "performance")
    if isinstance(performance, Mapping):
        rows += [{"item": f"{en} ({zh})", "value": _show(key, performance[key])} for key, en, zh in PERFORMANCE_FIELDS
                 if performance.get(key) is not None]
    risk = _latest(found, "risk")
    notes = []
    if risk:
        rows.append({"item": "Risk (decision table supplier_risk) (风险)", "value": _show("risk", risk)})
        notes.append("Risk = criticality x history x certification (decision table supplier_risk); "
                     "high risk needs an on-site audit before approval. (风险 = 关键程度 × 历史 × 认证; "
                     "高风险须在批准前进行现场审计。)")
    return {"columns": COLUMNS, "rows": rows, "notes": notes}


def audit(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    found = _task_data(session, instance_id)
    outcome = _latest(found, "audit_outcome")
    if outcome is None:
        return None
    raised = (_latest(found, "capas") or {}).get("deviations") or []
    keys = _business_keys(session, raised)
    rows, capa = [], 0
    for number, finding in enumerate(_latest(found, "findings") or [], start=1):
        if not isinstance(finding, Mapping):
            continue
        deviation = ""
        if finding.get("capa"):
            deviation = keys[capa] if capa < len(keys) else "to be raised"
            capa += 1
        rows.append({"number": number, "finding": finding.get("finding"),
                     "classification": finding.get("classification"), "capa": deviation or "no CAPA"})
    notes = [f"Audit on {_latest(found, 'audit_date')}: {_show('audit_outcome', outcome)}; "
             f"{len(rows)} finding(s), {capa} CAPA(s) raised."]
    return {"columns": [{"key": "number", "label_en": "#", "label_zh": "#"},
                        {"key": "finding", "label_en": "Finding", "label_zh": "发现"},
                        {"key": "classification", "label_en": "Classification", "label_zh": "分类"},
                        {"key": "capa", "label_en": "CAPA (deviation)", "label_zh": "CAPA(偏差)"}],
            "rows": rows, "notes": notes}


def _business_keys(session: Any, instance_ids: list[Any]) -> list[str]:
    from engine.runtime_models import BusinessKey

    keys = []
    for value in instance_ids:
        try:
            found = session.scalar(select(BusinessKey.business_key).where(BusinessKey.instance_id == int(value)))
        except (TypeError, ValueError):
            found = None
        keys.append(str(found or f"#{value}"))
    return keys


def qualification(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    found = _task_data(session, instance_id)
    result = _latest(found, "qualification_result")
    if result is None:
        return None
    rows = [{"lot": lot.get("lot"), "report": lot.get("report") or "", "result": _show("result", lot.get("result"))}
            for lot in _latest(found, "lots") or [] if isinstance(lot, Mapping)]
    return {"columns": [{"key": "lot", "label_en": "Lot", "label_zh": "批号"},
                        {"key": "report", "label_en": "Test report", "label_zh": "检验报告"},
                        {"key": "result", "label_en": "Result", "label_zh": "结果"}],
            "rows": rows, "notes": [f"Qualification (资质确认): {_show('qualification_result', result)}"]}


def decision(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    from bpmn.supplier_evaluation import service

    found = _task_data(session, instance_id)
    decided = _latest(found, "decision")
    if decided is None:
        return None
    rows = _rows(found, (("decision", "Decision", "决定"), ("valid_until", "Approval valid until", "批准有效期至"),
                         ("conditions", "Conditions", "条件"), ("rationale", "Rationale", "理由")))
    asl = _latest(found, "asl")
    if isinstance(asl, Mapping):
        try:
            status = service.change_set_status(session, asl["change_set"])
        except Exception:  # noqa: BLE001 - a removed change set must not hide the decision
            status = "unknown"
        rows.append({"item": "Approved supplier list entry (合格供应商名录条目)",
                     "value": f"{asl.get('code')} ({asl.get('status')}, valid until {asl.get('valid_until')})"})
        rows.append({"item": "Entry approved by a second QA person (第二名 QA 批准)",
                     "value": "yes (是)" if status == "approved" else f"not yet: {status}"})
        if decided != "rejected" and asl.get("reevaluate_at"):
            rows.append({"item": "Re-evaluation starts (重新评估开始)", "value": str(asl["reevaluate_at"])[:10]})
    return {"columns": COLUMNS, "rows": rows}


SECTIONS = (
    RecordSection(PROCESS, "evaluation", "Evaluation and risk", "评估与风险", evaluation, order=10),
    RecordSection(PROCESS, "audit", "Supplier audit", "供应商审计", audit, order=20),
    RecordSection(PROCESS, "qualification", "Qualification lots", "资质确认批次", qualification, order=30),
    RecordSection(PROCESS, "decision", "Decision and approved supplier list", "决定与合格供应商名录", decision, order=40),
)


def register(runtime: Any) -> None:
    runtime.record_sections.register_missing(SECTIONS)
