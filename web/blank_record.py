"""Blank records for paper work while the system is down (Annex 11 §16, business continuity).

A blank record is a printable PDF of process steps as the task page would ask them: every
field with its label (English and Chinese), unit, limits and whether it is required, an
empty box for the value and for an exception comment, repeating groups as tables with empty
rows, and a signature line for every signature the step asks (performer, verifier), plus the
lines for whoever later transcribes the paper into the system as a late entry
(web/late_entry.py). Printed in advance from the process library (every step of an approved
version, the instance number and business key left blank) or from a task's page (that step,
its instance filled in). Does not import Flask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from audit.pdf import escape as e

BLANK_ROWS = 5


@dataclass(frozen=True)
class BlankStep:
    bpmn_id: str
    name: str
    lane: str | None
    form: Any  # forms.FormDefinition or None
    meanings: tuple[str, ...]
    verifier_meaning: str | None


def _definition(schema: Any, ui_schema: Any) -> Any:
    from forms import load_definition

    return load_definition(schema, ui_schema) if schema is not None else None


def step_of_task(form: Any) -> BlankStep:
    """The step of a task (web.operator.TaskForm)."""
    return BlankStep(form.bpmn_id, form.name, form.lane, _definition(form.schema, form.ui_schema), tuple(form.meanings),
                     form.verifier_meaning)


def steps_of_version(session: Any, version: Any) -> list[BlankStep]:
    """The user tasks of a definition version in flow order (from the start event along the flows)."""
    from engine.definitions import version_ref, version_spec
    from engine.runtime import resolve
    from engine.spiff.specs import properties_of

    spec, subprocesses = version_spec(version)
    forms = version_ref(session, version.id).forms()
    seen: set[str] = set()
    steps: list[BlankStep] = []
    queue = [spec.start] if getattr(spec, "start", None) is not None else list(spec.task_specs.values())
    while queue:
        task_spec = queue.pop(0)
        if task_spec.name in seen:
            continue
        seen.add(task_spec.name)
        if getattr(task_spec, "manual", False):
            rules = resolve(None).properties.rules(properties_of(task_spec))
            schema = forms.get(rules.form_schema) if rules.form_schema else None
            ui = forms.get(rules.form_ui_schema) if rules.form_ui_schema else None
            steps.append(BlankStep(getattr(task_spec, "bpmn_id", None) or task_spec.name,
                                   getattr(task_spec, "bpmn_name", None) or task_spec.name,
                                   getattr(task_spec, "lane", None), _definition(schema, ui),
                                   tuple(rules.signature_meanings), rules.verifier_meaning))
        queue.extend(task_spec.outputs)
    return steps


def _both(english: str | None, chinese: str | None) -> str:
    if chinese and chinese != english:
        return f"{e(english)}<br><span class='zh'>{e(chinese)}</span>"
    return e(english)


def _limits(spec: Any) -> str:
    parts = []
    if spec.limits is not None:
        text = spec.limits.describe()
        parts.append(f"{text} {spec.unit}" if spec.unit else text)
    elif spec.unit:
        parts.append(f"unit / 单位: {spec.unit}")
    if spec.critical:
        parts.append("critical: verified by a second person / 关键数据：需第二人复核")
    if spec.calculated is not None:
        parts.append("calculated / 计算: " + e(getattr(spec.calculated, "source", "")))
    if spec.equipment_tag:
        parts.append(f"equipment / 设备 {e(spec.equipment_tag)}: write the reading and its time / 记录读数和时间")
    if spec.options:
        parts.append(" ".join(f"☐ {_both(o.label('en'), o.label('zh'))}" for o in spec.options))
    elif spec.type == "boolean":
        parts.append("☐ yes / 是 ☐ no / 否")
    if spec.max_length and spec.type == "string":
        parts.append(f"≤ {spec.max_length} characters / 字符")
    return "<br>".join(p if p.startswith(("calculated", "equipment", "☐")) else e(p) for p in parts)


def _field_rows(specs: Iterable[Any], depth: int = 0) -> str:
    rows = []
    for spec in specs:
        label = _both(spec.label("en"), spec.label("zh"))
        required = "✔" if spec.required else ""
        if spec.kind == "rows":
            columns = list(spec.leaves())
            head = "".join(f"<th>{_both(c.label('en'), c.label('zh'))}"
                           f"{'<br><span class=small>' + e(c.unit) + '</span>' if c.unit else ''}"
                           f"{'<br><span class=small>' + e(c.limits.describe()) + '</span>' if c.limits else ''}</th>"
                           for c in columns)
            count = max(BLANK_ROWS, spec.min_rows, len(spec.default_rows))
            body = "".join(f"<tr><td>{n}</td>" + "<td class='box'></td>" * len(columns) + "</tr>"
                           for n in range(1, count + 1))
            rows.append(f"<tr><td colspan='5'><b>{label}</b> (rows / 行: {spec.min_rows}–{spec.max_rows})"
                        f"<table class='rows'><thead><tr><th>#</th>{head}</tr></thead><tbody>{body}</tbody></table></td></tr>")
        elif spec.kind == "group" or spec.children:
            rows.append(f"<tr><td colspan='5'><b>{label}</b></td></tr>" + _field_rows(spec.children, depth + 1))
        else:
            rows.append(f"<tr><td>{label}</td><td>{required}</td><td>{_limits(spec)}</td>"
                        f"<td class='box'></td><td class='box'></td></tr>")
    return "".join(rows)


def _signature_lines(step: BlankStep) -> str:
    from signatures.meanings import labels

    lines = []
    for meaning in step.meanings:
        en, zh = labels(meaning, {})
        lines.append((f"{en} / {zh}", "name / 姓名", "signature / 签名", "date and time / 日期时间"))
    if step.verifier_meaning:
        en, zh = labels(step.verifier_meaning, {})
        lines.append((f"{en} (second person) / {zh}（第二人）", "name / 姓名", "signature / 签名", "date and time / 日期时间"))
    lines.append(("Transcribed into the system (late entry) / 补录入系统", "by / 补录人", "signature / 签名",
                  "date and time / 日期时间"))
    return ("<table class='sign'><tbody>" + "".join(
        f"<tr><th>{e(what)}</th><td><span class='small'>{e(a)}</span></td><td><span class='small'>{e(b)}</span></td>"
        f"<td><span class='small'>{e(c)}</span></td></tr>" for what, a, b, c in lines) + "</tbody></table>")


def blank_html(steps: list[BlankStep], header: dict[str, str]) -> str:
    """The body: the header (process, version, instance, business key, printed when/by) and each step."""
    parts = ["<table class='head'><tbody>"]
    parts += [f"<tr><th>{e(k)}</th><td class='{'box' if not v else ''}'>{e(v)}</td></tr>" for k, v in header.items()]
    parts.append("</tbody></table><p class='note'>While the system is down, record the work here. When it is back, "
                 "every entry is made in the system as a late entry with the original time, the reason and who "
                 "did the work on paper; keep this sheet with the record. / 系统停机期间在此记录；系统恢复后，每项记录"
                 "以补录方式录入系统（原始时间、原因、纸面操作人），本页与记录一并保存。</p>")
    for number, step in enumerate(steps, 1):
        parts.append(f"<section class='step'><h2>Step / 步骤 {number}: {e(step.name)}"
                     f"{' (' + e(step.lane) + ')' if step.lane else ''}</h2>")
        if step.form is not None:
            title = step.form.label("en")
            if title:
                parts.append(f"<p>{_both(title, step.form.label('zh'))}</p>")
            parts.append("<table class='fields'><colgroup><col style='width:26%'><col style='width:6%'>"
                         "<col style='width:24%'><col style='width:22%'><col style='width:22%'></colgroup>"
                         "<thead><tr><th>Field / 字段</th><th>Required / 必填</th><th>Limits, unit / 限度、单位</th>"
                         "<th>Value / 数值</th><th>Exception comment, remark / 异常说明、备注</th></tr></thead><tbody>"
                         + _field_rows(step.form.fields) + "</tbody></table>")
        else:
            parts.append("<p>No form: record the outcome. / 无表单：记录结果。</p><div class='box tall'></div>")
        parts.append(_signature_lines(step) + "</section>")
    return "".join(parts)


BLANK_CSS = """
@page { size: A4 portrait; margin: 16mm 12mm 16mm 12mm; }
h2 { font-size: 11pt; margin: 10pt 0 3pt 0; }
td.box { height: 20pt; }
table.rows td.box { height: 16pt; }
table.head th, table.sign th { width: 30%; }
table.sign td { height: 24pt; vertical-align: bottom; }
div.tall { height: 80pt; border: 0.5pt solid #888; }
.zh { color: #333; }
.note { font-size: 8pt; border: 0.5pt solid #444; padding: 3pt; }
section.step { page-break-inside: auto; }
"""


def blank_pdf(title: str, steps: list[BlankStep], header: dict[str, str], meta: str) -> bytes:
    from audit.pdf import html_document, render_pdf

    return render_pdf(html_document(title, blank_html(steps, header), lang="zh-CN", meta=meta, extra_css=BLANK_CSS))
