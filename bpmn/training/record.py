"""The training's sections of the executed record (engine.record_sections): the curriculum, every
exam attempt with every answer, the practical assessments and the qualifications granted."""
from __future__ import annotations

from typing import Any, Mapping

from engine.record_sections import RecordSection


def _data(session: Any, instance_id: int) -> dict[str, Any]:
    from bpmn.training.triggers import latest_data

    return latest_data(session, instance_id)


def curriculum(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    plan = _data(session, instance_id).get("curriculum")
    if not isinstance(plan, Mapping):
        return None
    return {"columns": [{"key": "document", "label_en": "Document", "label_zh": "文件"},
                        {"key": "title", "label_en": "Title", "label_zh": "标题"},
                        {"key": "exam", "label_en": "Exam", "label_zh": "考试"},
                        {"key": "practical", "label_en": "Practical", "label_zh": "实操"}],
            "rows": [{"document": f"{d['code']} v{d['version']}", "title": d.get("title"),
                      "exam": f"{d['questions']} questions, pass {d['pass_mark_pct']} %, {d['max_attempts']} attempts"
                      if d.get("exam") else "no", "practical": "yes" if d.get("practical") else "no"}
                     for d in plan.get("documents") or []],
            "notes": [f"Trainee: {plan.get('trainee_name')} ({plan.get('trainee')}); trigger: {plan.get('trigger')}"
                      + (f"; reason: {plan['reason']}" if plan.get("reason") else "")]}


def exams(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    found = _data(session, instance_id).get("exams") or []
    if not found:
        return None
    rows = []
    for attempt in found:
        for line in attempt.get("answers") or []:
            rows.append({"attempt": f"{attempt['code']} v{attempt['version']} #{attempt['attempt']}",
                         "n": line["n"], "question": line["question"], "answer": line.get("chosen_text") or "—",
                         "correct": "yes" if line["correct"] else "no", "problem": line.get("problem") or ""})
    notes = [f"{a['code']} v{a['version']} attempt {a['attempt']}: {a['correct']}/{a['total']} ({a['score_pct']} %), "
             f"pass mark {a['pass_mark_pct']} %: {'passed' if a['passed'] else 'not passed'}"
             + (f"; ignored: {'; '.join(a['ignored'])}" if a.get("ignored") else "") for a in found]
    return {"columns": [{"key": "attempt", "label_en": "Attempt", "label_zh": "考试次数"},
                        {"key": "n", "label_en": "#", "label_zh": "题号"},
                        {"key": "question", "label_en": "Question", "label_zh": "题目"},
                        {"key": "answer", "label_en": "Answer", "label_zh": "答案"},
                        {"key": "correct", "label_en": "Correct", "label_zh": "正确"},
                        {"key": "problem", "label_en": "Problem", "label_zh": "问题"}], "rows": rows, "notes": notes}


def granted(session: Any, instance_id: int, record: Mapping[str, Any]) -> dict[str, Any] | None:
    found = _data(session, instance_id).get("granted")
    if not isinstance(found, Mapping):
        return None
    return {"columns": [{"key": "sop", "label_en": "Document", "label_zh": "文件"},
                        {"key": "version", "label_en": "Version", "label_zh": "版本"},
                        {"key": "valid_until", "label_en": "Valid until", "label_zh": "有效期至"}],
            "rows": [dict(q) for q in found.get("qualifications") or []],
            "notes": [f"Granted on signature {found.get('signature_id')}; requalification due "
                      f"{str(found.get('requalification_due'))[:10]}"]}


SECTIONS = (RecordSection("training", "curriculum", "Curriculum", "培训计划", curriculum, order=10),
            RecordSection("training", "exams", "Exam answers", "考试答案", exams, order=20),
            RecordSection("training", "qualifications", "Qualifications granted", "授予的资质", granted, order=30))
