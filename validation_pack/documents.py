"""The pack's documents as HTML, rendered to PDF/A-3b with their JSON evidence attached.

Documents: DQ, IQ, OQ, PQ, TRACE (traceability matrix), SUMMARY; DIFF for `diff`.
Each has a header (pack, system, release, commit, status), its sections and a signature
page: executed by (meaning "executed") and reviewed by (meaning "reviewed"), each the Part
11 manifestation (printed name, meaning in English and Chinese, UTC and site time) or
"pending"; the PAdES signature of the document certificate is added by `pades`.
"""
from __future__ import annotations

import base64
import html as _html
import json
from pathlib import Path
from typing import Any, Callable, Iterable

from audit.pdf import BASE_CSS

TITLES = {
    "SUMMARY": ("Validation summary report", "验证总结报告"),
    "DQ": ("Design qualification", "设计确认"),
    "IQ": ("Installation qualification", "安装确认"),
    "OQ": ("Operational qualification", "运行确认"),
    "PQ": ("Performance qualification", "性能确认"),
    "TRACE": ("Traceability matrix", "追溯矩阵"),
    "DIFF": ("Re-validation delta report", "再验证差异报告"),
}
ORDER = ["SUMMARY", "DQ", "IQ", "OQ", "PQ", "TRACE"]
SLOTS = (("executed", "Executed by", "执行人"), ("reviewed", "Reviewed by", "审核人"))

EXTRA_CSS = """
h2 { font-size: 11pt; margin: 10pt 0 3pt 0; border-bottom: 0.8pt solid #333; page-break-after: avoid; }
h3 { font-size: 9.5pt; margin: 6pt 0 2pt 0; page-break-after: avoid; }
p { margin: 2pt 0 4pt 0; }
.pass { color: #0a6b2a; font-weight: bold; }
.fail { color: #b00020; font-weight: bold; }
.na { color: #7a5a00; font-weight: bold; }
.gap { background: #fff1f0; }
.status { border: 1pt solid #333; padding: 4pt; margin: 4pt 0 8pt 0; }
.draft { border-color: #b00020; color: #b00020; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; overflow-wrap: anywhere; }
.kv td:first-child { width: 22%; font-weight: bold; background: #f4f4f4; }
.sigpage { page-break-before: always; }
.sig td { height: 26pt; }
img.shot { max-width: 120mm; max-height: 80mm; border: 0.5pt solid #888; margin: 2pt 0; }
.nowrap { white-space: nowrap; }
.shotbox { page-break-inside: avoid; }
"""


def esc(value: object) -> str:
    return _html.escape("" if value is None else str(value))


def verdict(value: str) -> str:
    css = {"pass": "pass", "passed": "pass", "fail": "fail", "failed": "fail", "error": "fail", "skipped": "fail",
           "n/a": "na", "not run": "na", "no test": "fail"}.get(value, "")
    return f'<span class="{css}">{esc(value)}</span>'


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], widths: Iterable[str] | None = None,
          row_class: Callable[[int], str] | None = None) -> str:
    cols = "".join(f'<col style="width:{w}">' for w in widths) if widths else ""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = row_class(i) if row_class else ""
        body.append(f'<tr class="{css}">' + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(list(headers)) or 1}">none / 无</td></tr>')
    return f"<table><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv(pairs: Iterable[tuple[str, str]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in pairs) + "</table>"


def header(pack: dict[str, Any], doc: str, status: str) -> str:
    prov = pack["provenance"]
    css = "status" if status == "reviewed" else "status draft"
    text = {"draft": "DRAFT: not yet signed by the executor / 草稿：执行人尚未签名",
            "executed": "EXECUTED: awaiting review by a second validation user / 已执行：待第二位验证人员审核",
            "reviewed": "EXECUTED AND REVIEWED / 已执行并已审核"}[status]
    return kv([
        ("Document / 文件", f"{esc(pack['pack_id'])}-{doc}: {esc(TITLES[doc][0])} / {esc(TITLES[doc][1])}"),
        ("System / 系统", f"{esc(pack['supplier']['product'])} {esc(prov.get('version'))}: {esc(pack['supplier']['description'])}"),
        ("Source / 源代码", f"commit <span class='mono'>{esc(prov.get('commit') or 'unknown')}</span>"
                          f"{' (files modified since the commit)' if prov.get('dirty') else ''}"),
        ("Built / 生成", f"{esc(pack['built_at'].replace('T', ' ')[:19])} UTC on {esc(pack['host'])} "
                        f"(site time zone {esc(pack['site_timezone'])})"),
    ]) + f'<div class="{css}">{text}</div>'


def signature_page(doc: str, record: dict[str, Any], signatures: list[dict[str, Any]]) -> str:
    rows = []
    by_meaning = {s["meaning"]: s for s in signatures}
    for meaning, en, zh in SLOTS:
        sig = by_meaning.get(meaning)
        if sig is None:
            rows.append([f"{en} / {zh}", "pending / 待签", "", "", ""])
        else:
            rows.append([f"{en} / {zh}", f"{esc(sig['printed_name'])} ({esc(sig['signer_id'])})",
                         f"{esc(sig['meaning_en'])} / {esc(sig['meaning_zh'])}", esc(sig["utc"]), esc(sig["local"])])
    ids = "".join(f"<li>{esc(s['meaning'])}: signature {esc(s['signature_id'])}, "
                  f"<span class='mono'>message SHA-256 {esc(s.get('message_sha256', ''))}</span></li>" for s in signatures)
    return (f'<div class="sigpage"><h2>Signatures / 签名</h2>'
            f"<p>Electronic signatures under 21 CFR Part 11 and EU GMP Annex 11 by users of this installation. Each "
            f"signature is bound to the record <span class='mono'>{esc(record['record_type'])}/{esc(record['record_id'])} "
            f"v{record['record_version']}</span> whose content is the SHA-256 of this document's attached JSON evidence "
            f"(<span class='mono'>{esc(record['evidence_sha256'])}</span>); any change to the evidence makes "
            f"verification fail. The executor and the reviewer are different people. The PDF file itself carries a "
            f"PAdES signature by the installation's document certificate.</p>"
            + table(["Role / 角色", "Name (user ID) / 姓名", "Meaning / 含义", "Date and time UTC / 日期时间",
                     "Site time / 当地时间"], rows, ["14%", "22%", "18%", "20%", "26%"])
            + (f"<ul class='small'>{ids}</ul>" if ids else "") + "</div>")


def html_page(title: str, body: str, meta: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{BASE_CSS}{EXTRA_CSS}</style></head><body><h1>{esc(title)}</h1>"
            f'<div class="meta" data-meta="{esc(meta)}"></div>{body}</body></html>')


def render(doc: str, pack: dict[str, Any], evidence: dict[str, Any], record: dict[str, Any],
           signatures: list[dict[str, Any]], folder: Path) -> tuple[str, str]:
    """(title, full HTML) of one document."""
    status = "reviewed" if {"executed", "reviewed"} <= {s["meaning"] for s in signatures} else (
        "executed" if any(s["meaning"] == "executed" for s in signatures) else "draft")
    title = f"{TITLES[doc][0]} / {TITLES[doc][1]}"
    body = header(pack, doc, status) + BODIES[doc](pack, evidence, folder) + signature_page(doc, record, signatures)
    return title, html_page(title, body, f"{pack['pack_id']}-{doc}")


def render_pdf(html: str, attachments: dict[str, bytes], base_url: str | None = None) -> bytes:
    from weasyprint import HTML, Attachment

    files = [Attachment(string=data.decode("utf-8") if name.endswith(".json") else data, name=name,
                        description=f"evidence: {name}", relationship="Data") for name, data in attachments.items()]
    pdf = HTML(string=html, base_url=base_url).write_pdf(pdf_variant="pdf/a-3b", attachments=files)
    assert pdf is not None
    return bytes(pdf)


# ---------------------------------------------------------------- bodies
def _risk(req: dict[str, Any]) -> str:
    r = req.get("risk")
    if not r:
        return '<span class="fail">not assessed</span>'
    return f"S{r['severity']} P{r['probability']} D{r['detectability']} → class {r['risk_class']}, {verdict_priority(r['priority'])}"


def verdict_priority(priority: str) -> str:
    css = {"high": "fail", "medium": "na", "low": "pass"}.get(priority, "")
    return f'<span class="{css}">{esc(priority)}</span>'


def body_dq(pack: dict[str, Any], dq: dict[str, Any], folder: Path) -> str:
    arch, sup = dq["architecture"], dq["supplier"]
    parts = ["<h2>1. System description / 系统描述</h2>", f"<p>{esc(dq['system'])}</p>",
             "<h2>2. Architecture / 架构</h2>",
             "<p>The packages of the installed code and their floors as documented in docs/dev/conventions.md: a "
             "package imports only from packages below it. The imports are read from the code itself.</p>",
             table(["Floor (top first) / 层", "Rule / 规则"], ([esc(f["packages"]), esc(f["rule"])] for f in arch["floors"]),
                   ["30%", "70%"]),
             "<h3>Packages as built / 已构建的包</h3>",
             table(["Package", "Modules", "Lines", "Imports (packages below)", "Purpose"],
                   ([esc(p["package"]), str(p["modules"]), str(p["lines"]), esc(", ".join(p["imports"])) or "-",
                     esc(p["doc"]) if p["present"] else "<i>not built yet</i>"] for p in arch["packages"]),
                   ["12%", "8%", "8%", "30%", "42%"]),
             f"<p>Imports that run up a floor: {esc(', '.join(arch['upward_imports'])) or 'none'}.</p>",
             "<h2>3. Supplier / 供应商</h2>",
             kv([("Product", esc(sup["product"])), ("Release", esc(sup["release"])), ("Licence", esc(sup["licence"])),
                 ("Commit", f"<span class='mono'>{esc(sup['commit'])}</span>"), ("Supplier", esc(sup["supplier"])),
                 ("Change control", esc(sup["change_control"]))]),
             "<h2>4. Requirements, design elements and risk / 需求、设计元素与风险</h2>",
             "<p>GAMP 5 (second edition) risk assessment: severity (S) of the impact on patient safety, product "
             "quality and data integrity and probability (P) of the failure give the risk class; the class and the "
             "detectability (D) give the priority, which sets the test rigour.</p>",
             table(["Requirement", "Text", "Serves", "Design elements", "Risk / 风险", "Rigour"],
                   ([f"<b>{esc(r['id'])}</b>", esc(r["text"]), esc(", ".join(r["serves"])),
                     "<br>".join(f"{esc(d['path'])}{'' if d['exists'] else ' <i>(not built)</i>'}" for d in r["design_elements"]),
                     _risk(r), esc(r["rigour"])] for r in dq["requirements"]),
                   ["10%", "36%", "12%", "16%", "13%", "13%"])]
    return "".join(parts)


def body_iq(pack: dict[str, Any], iq: dict[str, Any], folder: Path) -> str:
    checks = iq["checks"]
    parts = ["<h2>1. Checks executed on the installation / 在安装上执行的检查</h2>",
             table(["ID", "Check", "Expected / 预期", "Actual / 实际", "Verdict", "Executed (UTC)"],
                   ([esc(c["id"]), esc(c["title"]), esc(c["expected"]), esc(c["actual"]), verdict(c["verdict"]),
                     esc(c["executed_at"])] for c in checks), ["6%", "16%", "24%", "36%", "6%", "12%"])]
    for c in checks:
        if not c["details"]:
            continue
        parts.append(f"<h3>{esc(c['id'])} {esc(c['title'])}: details</h3>")
        keys = list(c["details"][0].keys())
        rows = c["details"][:400]
        parts.append(table([esc(k) for k in keys], ([verdict(str(r.get(k))) if k == "verdict" else esc(r.get(k))
                                                    for k in keys] for r in rows)))
        if len(c["details"]) > len(rows):
            parts.append(f"<p>... and {len(c['details']) - len(rows)} more rows in the attached JSON.</p>")
    parts.append(f"<p>{len(iq['files'])} installed files were hashed (SHA-256); the list is in the attached JSON "
                 "and feeds the re-validation diff.</p>")
    return "".join(parts)


def _img(folder: Path, rel: str) -> str:
    path = folder / "oq" / rel
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img class="shot" src="data:image/png;base64,{data}">'


def body_oq(pack: dict[str, Any], oq: dict[str, Any], folder: Path) -> str:
    run, records, counts = oq["run"], oq["records"], oq["counts"]
    parts = ["<h2>1. Execution / 执行</h2>",
             kv([("Selection", "quick: one test per user requirement" if run.get("quick") else
                  "every test that carries a requirement marker"),
                 ("Backends", esc(run.get("backends"))), ("Missing server, browser or tool", "fails the test (never skipped)"),
                 ("Started / finished (UTC)", f"{esc(run.get('started_at'))} / {esc(run.get('finished_at'))}"),
                 ("Host / Python", f"{esc(run.get('host'))}, Python {esc(run.get('python'))}, {esc(run.get('platform'))}"),
                 ("Result", f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
                            f"{counts['skipped']} skipped of {counts['total']}"),
                 ("pytest exit status", esc(run.get("exitstatus")))]),
             "<h2>2. Results per test / 各测试结果</h2>"]
    rows = []
    for i, r in enumerate(records, 1):
        steps = "".join(f"<li>{esc(s['action'])}{' → ' + esc(s['expected']) if s.get('expected') else ''}"
                        f"{' [' + esc(s['actual']) + ']' if s.get('actual') else ''}</li>" for s in r["steps"])
        ev = "<br>".join(f"{esc(e['label'])} <span class='mono'>{esc(e['sha256'][:16])}</span>" for e in r["evidence"])
        rows.append([str(i), f"<span class='mono'>{esc(r['nodeid'])}</span>",
                     esc(", ".join(r["requirements"] + r["regulatory"])), esc(r.get("risk_priority") or ""),
                     f"<ol>{steps}</ol>", esc(r["expected"]), esc(r["actual"]), verdict(r["outcome"]),
                     f"{esc(r['started_at'][11:23])}<br>{esc(r['finished_at'][11:23])}", ev])
    parts.append(table(["#", "Test", "Requirements", "Risk", "Steps / 步骤", "Expected / 预期", "Actual / 实际",
                        "Result", "Start/end UTC", "Evidence"], rows,
                       ["3%", "17%", "10%", "5%", "17%", "14%", "10%", "5%", "8%", "11%"],
                       lambda i: "gap" if records[i]["outcome"] != "passed" else ""))
    shots = [(r, e) for r in records for e in r["evidence"] if e["kind"] == "screenshot"]
    if shots:
        parts.append("<h2>3. Screenshots from the browser tests / 浏览器测试截图</h2>")
        for r, e in shots:
            parts.append(f"<div class='shotbox'><h3>{esc(r['nodeid'])}: {esc(e['label'])}</h3>"
                         f"<p class='mono'>SHA-256 {esc(e['sha256'])}</p>{_img(folder, e['path'])}</div>")
    failed = [r for r in records if r["outcome"] != "passed"]
    if failed:
        parts.append("<h2>4. Failures / 失败</h2>")
        for r in failed:
            deviation = (f"<p>Deviation / 偏差: <b>{esc(r['deviation'])}</b></p>" if r.get("deviation") else
                         "<p class='fail'>No deviation reference yet / 尚无偏差编号</p>")
            parts.append(f"<h3>{esc(r['nodeid'])}</h3>{deviation}<pre class='mono'>{esc(r['failure'][-3000:])}</pre>")
    return "".join(parts)


def body_pq(pack: dict[str, Any], pq: dict[str, Any], folder: Path) -> str:
    if not pq:
        return "<p>No PQ run in this pack.</p>"
    res = pq["result"]
    audit = pq["audit_verification"]
    parts = ["<h2>1. Declared load / 声明的负载</h2>",
             kv([("Scenario", f"{esc(pq['scenario'])}: {esc(pq['scenario_description'])}"),
                 ("Batches", str(pq["batches"])), ("Concurrency", str(pq["concurrency"])),
                 ("Mode", "quick (CI)" if pq.get("quick") else "full load"),
                 ("Database", esc(pq.get("database"))), ("Plant", esc(pq.get("plant")))]),
             "<h2>2. Results / 结果</h2>",
             kv([("Started / finished (UTC)", f"{esc(pq['started_at'])} / {esc(pq['finished_at'])}"),
                 ("Wall time", f"{res['wall_s']:.1f} s"),
                 ("Batches completed", f"{res['completed']} of {pq['batches']}"),
                 ("Steps completed", str(res["steps"])), ("Signatures", str(res["signatures"])),
                 ("Equipment reads", str(res["equipment_reads"])),
                 ("Throughput", f"{res['batches_per_minute']:.2f} batches/min, {res['steps_per_second']:.2f} steps/s"),
                 ("Step latency", f"median {res['step_ms_p50']:.0f} ms, 95th percentile {res['step_ms_p95']:.0f} ms"),
                 ("Errors", verdict("pass") if not res["errors"] else f"<span class='fail'>{len(res['errors'])}</span>"),
                 ("Audit-trail verification at the end", verdict("pass" if audit["ok"] else "fail") + " " + esc(audit["detail"])),
                 ("Acceptance", verdict("pass" if pq["passed"] else "fail") + " " + esc(pq["acceptance"]))]),
             "<h2>3. Batches / 批次</h2>",
             table(["Batch", "Path", "Steps", "Signatures", "Wall time", "Outcome"],
                   ([esc(b["batch"]), esc(b["path"]), str(b["steps"]), str(b["signatures"]), f"{b['wall_s']:.2f} s",
                     verdict("pass" if b["ok"] else "fail") + (" " + esc(b["error"]) if b.get("error") else "")]
                    for b in pq["batch_results"]))]
    return "".join(parts)


def body_trace(pack: dict[str, Any], trace: dict[str, Any], folder: Path) -> str:
    counts = trace["counts"]
    rows = trace["rows"]
    parts = ["<h2>1. Coverage / 覆盖</h2>",
             kv([("Requirements", str(trace["requirements"])),
                 ("Proven by a passing test in this run", str(counts["passed"])),
                 ("Failing", str(counts["failed"])), ("Tested, but not in this run", str(counts["not run"])),
                 ("Without any test", str(counts["no test"])),
                 ("High-priority requirements proven", f"{trace['high_priority']['passed']} of {trace['high_priority']['total']}"),
                 ("Tests executed", str(trace["tests_executed"])),
                 ("Tests without a requirement", str(trace["tests_without_requirement"]))]),
             "<h2>2. Matrix / 矩阵</h2>",
             table(["Requirement", "Risk", "Design element", "OQ tests (this run)", "Result"],
                   ([f"<b>{esc(r['requirement']['id'])}</b><br><span class='small'>{esc(r['requirement']['text'][:160])}</span>",
                     verdict_priority(r["requirement"]["risk"]["priority"]) if r["requirement"].get("risk") else "-",
                     "<br>".join(f"{esc(d['path'])}{'' if d['exists'] else ' <i>(not built)</i>'}" for d in r["design"]),
                     "<br>".join(f"<span class='mono'>{esc(t['nodeid'])}</span> {verdict(t['outcome'])}" for t in r["tests"][:8])
                     + (f"<br>+{len(r['tests']) - 8} more" if len(r["tests"]) > 8 else "")
                     + (f"<br><i>{len(r['other_tests'])} more not run in this run</i>" if r["other_tests"] else ""),
                     verdict(r["status"])] for r in rows),
                   ["26%", "7%", "17%", "42%", "8%"], lambda i: "gap" if rows[i]["status"] != "passed" else ""),
             "<h2>3. Gaps / 差距</h2><p>Listed, never hidden: each needs a test, a fix or a documented rationale.</p>",
             table(["Kind", "ID", "Priority", "Detail"],
                   ([esc(g["kind"]), f"<span class='mono'>{esc(g['id'])}</span>", esc(g["priority"]), esc(g["detail"][:300])]
                    for g in trace["gaps"]), ["22%", "30%", "8%", "40%"]),
             "<h2>4. Regulatory statements and the requirements that serve them / 法规条款</h2>",
             table(["Regulatory ID", "Served by"], ([esc(k), esc(", ".join(v)) or "<span class='fail'>none</span>"]
                                                   for k, v in trace["regulatory"].items()), ["20%", "80%"])]
    return "".join(parts)


def body_summary(pack: dict[str, Any], summary: dict[str, Any], folder: Path) -> str:
    parts = ["<h2>1. Purpose and scope / 目的与范围</h2>",
             "<p>This pack qualifies the installation named above for its intended use under DB11/T 2352.1 §11 "
             "(DQ, IQ, OQ, PQ), EU GMP Annex 11 and 21 CFR Part 11, following risk-based assurance (GAMP 5 second "
             "edition; FDA Computer Software Assurance): automated tests, logs and audit trails are the evidence, "
             "with scripted tests where the risk is high. Each document below carries its JSON evidence as an "
             "attachment and is signed by the executor and a reviewer.</p>",
             "<h2>2. Results / 结果</h2>",
             table(["Document", "Outcome", "Key figures"],
                   ([f"{esc(d)}: {esc(TITLES[d][0])} / {esc(TITLES[d][1])}", verdict(s["verdict"]), esc(s["figures"])]
                    for d, s in summary["documents"].items()), ["34%", "10%", "56%"]),
             "<h2>3. Conclusion / 结论</h2>", f"<p>{esc(summary['conclusion'])}</p>",
             "<h2>4. Files of the pack / 文件清单</h2>",
             "<p>Every file of the pack is listed with its SHA-256 in pack-manifest.sha256 beside the documents; "
             "pack.json (attached to this report) lists the documents, the SHA-256 of their evidence and their "
             "signatures. `gmp validation-pack verify` checks all of them.</p>"]
    return "".join(parts)


def body_diff(pack: dict[str, Any], diff: dict[str, Any], folder: Path) -> str:
    parts = ["<h2>Packs compared / 比较的验证包</h2>",
             kv([("Old / 旧", esc(diff["old"])), ("New / 新", esc(diff["new"]))])]
    for section in diff["sections"]:
        parts.append(f"<h2>{esc(section['title'])}</h2><p>{esc(section['summary'])}</p>")
        if section["rows"]:
            keys = list(section["rows"][0].keys())
            parts.append(table([esc(k) for k in keys], ([esc(r[k]) for k in keys] for r in section["rows"][:500])))
            if len(section["rows"]) > 500:
                parts.append(f"<p>... and {len(section['rows']) - 500} more rows in the attached JSON.</p>")
    return "".join(parts)


BODIES: dict[str, Callable[[dict[str, Any], dict[str, Any], Path], str]] = {
    "SUMMARY": body_summary, "DQ": body_dq, "IQ": body_iq, "OQ": body_oq, "PQ": body_pq, "TRACE": body_trace,
    "DIFF": body_diff}


def dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def render_diff(pack: dict[str, Any], diff: dict[str, Any], folder: Path) -> tuple[str, str]:
    """(title, HTML) of the delta report: the header of the newer pack, the sections, no signature page
    (the report is evidence for the change control that decides the re-validation; its file is PAdES-signed)."""
    title = f"{TITLES['DIFF'][0]} / {TITLES['DIFF'][1]}"
    status = "reviewed"
    body = header(pack, "DIFF", status).replace("EXECUTED AND REVIEWED / 已执行并已审核",
                                                 "Comparison of two packs / 两个验证包的比较")
    return title, html_page(title, body + body_diff(pack, diff, folder), f"{diff['old_pack']} → {diff['new_pack']}")
