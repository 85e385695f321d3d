"""Periodic evaluation of the system (A11-11): what happened to it in a period, from the audit trail.

Everything the evaluation needs is an audit entry: process and configuration changes
(definition versions, tag-registry revisions, server keys, validation packs), role and user
changes, deviations and incidents (deviations raised, exceptions recorded, values accepted out of
limits, corrections, failed operators and timers, refused equipment writes, late entries),
audit-trail reviews and earlier periodic evaluations, access reviews, failed sign-ins, lockouts and security alerts, backups,
restores and archives, database upgrades; plus the signed checkpoints of the period and the
verification of the whole trail at the time of the report. So the report is built by one query
per section over `audit_entry`, and a record type added later (a deviation process's records)
appears in its section by its action name.

    period = Period.from_dates("2026-10-01", "2026-12-31", settings)   # days in the site time zone
    content = build_report(db, settings, period, actor)                # plain JSON-able data
    row = record_report(uow, content)                                  # stored, `periodic_report.generated`
    pdf = report_pdf(stored_content(row), settings, signatures_html)   # PDF/A-3b, both scripts

The stored content (canonical JSON, `content_sha256`) is what a Part 11 signature on the
report covers (record type `periodic_report`, ID the report number, version 1).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.errors import AuditError
from audit.models import AuditCheckpoint, AuditEntry, PeriodicReport
from core import clock
from core.config import Settings
from core.errors import NotFound, ValidationError
from store.canonical import Actor, dumps
from store.db import Database
from store.uow import UnitOfWork

RECORD_TYPE = "periodic_report"
ITEM_TEXT_MAX = 300
# details worth a line in the report (the rest is in the trail)
DETAIL_KEYS = ("comment", "message", "kind", "file", "client", "from_revision", "to_revision", "failed_attempts")


class ReportError(AuditError, ValidationError):
    """A periodic report cannot be generated as asked (bad or empty period)."""


class ReportNotFound(AuditError, NotFound):
    """No periodic report with that number."""


@dataclass(frozen=True)
class Section:
    key: str
    title_en: str
    title_zh: str
    prefixes: tuple[str, ...]  # an action belongs to the section when it starts with one of these


SECTIONS = (
    Section("changes", "Process and configuration changes", "流程和配置变更",
            ("definition.", "definition_version.", "tag_registry.", "md_change.", "server_key.", "validation_pack.")),
    Section("access", "Role and user changes", "角色和用户变更",
            ("role.", "system_account.", "api_token.issued", "api_token.revoked", "enrolment.issued", "user.created",
             "user.deactivated", "user.unlocked", "user.expiry_changed", "user.credentials_revoked",
             "user.identity_verified", "user.enrolled")),
    Section("deviations", "Deviations and incidents", "偏差和事件",
            ("deviation.", "instance.exception_recorded", "instance.cancelled", "task.value_corrected",
             "task.late_entry", "operator.failed", "timer.failed", "tag.write_failed", "tag.write_refused",
             "equipment.data_refused")),
    Section("audit_reviews", "Audit-trail reviews and periodic evaluations", "审计追踪审核和定期评估",
            ("audit_review.", "periodic_report.")),
    Section("access_reviews", "Access reviews", "权限审核", ("access_review.",)),
    Section("security", "Failed sign-ins, lockouts and security alerts", "登录失败、锁定和安全警报",
            ("user.login_refused", "user.locked", "user.password_change_refused", "signature.refused",
             "enrolment.refused", "accountability.refused", "api.token_refused", "security_alert.",
             "access.refused")),
    Section("backups", "Backups, restores and archives", "备份、恢复和归档", ("backup.", "archive.")),
    Section("upgrades", "Upgrades", "升级", ("database.",)),
)
# Values accepted outside their limits (with the operator's exception comment) are part of the
# task's completion entry: they join the deviations section as items of their own.
EXCEPTION_ITEM = "task.completed (value out of limits)"
ACTIVITY = ("instance.started", "instance.completed", "instance.cancelled", "task.completed", "signature.created",
            "user.login")


@dataclass(frozen=True)
class Period:
    """[since, until) in UTC; `first_day` and `last_day` as asked (days in the site time zone)."""

    since: datetime
    until: datetime
    first_day: date
    last_day: date
    timezone: str

    @classmethod
    def from_dates(cls, first: str | date, last: str | date, settings: Settings) -> "Period":
        first_day, last_day = _day(first, "from"), _day(last, "to")
        if last_day < first_day:
            raise ReportError(f"the period ends ({last_day}) before it begins ({first_day})")
        tz = settings.tz()
        since = datetime.combine(first_day, time.min, tzinfo=tz).astimezone(timezone.utc)
        until = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=tz).astimezone(timezone.utc)
        if since > clock.now():
            raise ReportError(f"the period begins in the future ({first_day}): nothing to evaluate yet")
        return cls(since, until, first_day, last_day, settings.site_timezone)

    def to_json(self) -> dict[str, Any]:
        return {"from": clock.isoformat(self.since), "to": clock.isoformat(self.until),
                "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
                "timezone": self.timezone}


def _day(value: str | date, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError as exc:
        raise ReportError(f"--{name} must be a date (YYYY-MM-DD), not {value!r}") from exc


def section_of(action: str) -> Section | None:
    for section in SECTIONS:
        if any(action.startswith(prefix) if prefix.endswith(".") else action == prefix for prefix in section.prefixes):
            return section
    return None


def _prefix_condition(prefixes: Iterable[str]) -> Any:
    from sqlalchemy import or_

    # substr, not LIKE: LIKE ignores case on SQLite (as audit.filters)
    return or_(*[func.substr(AuditEntry.action, 1, len(p)) == p if p.endswith(".") else AuditEntry.action == p
                 for p in prefixes])


def _text(entry: AuditEntry) -> str:
    from audit.entry_text import format_changes

    parts = [entry.reason or ""]
    changes = format_changes(entry.changes)
    if changes:
        parts.append(changes.replace("\n", "; "))
    details = json.loads(entry.details or "{}")
    if isinstance(details, dict):
        parts += [f"{key}: {details[key] if isinstance(details[key], str) else dumps(details[key])}"
                  for key in DETAIL_KEYS if details.get(key) not in (None, "", [], {})]
    text = " | ".join(p for p in parts if p)
    return text if len(text) <= ITEM_TEXT_MAX else text[:ITEM_TEXT_MAX - 1] + "…"


def _item(entry: AuditEntry, text: str | None = None, action: str | None = None) -> dict[str, Any]:
    return {"seq": entry.seq, "ts": entry.ts, "actor_id": entry.actor_id, "actor_name": entry.actor_name,
            "action": action or entry.action, "object": f"{entry.object_type}/{entry.object_id}",
            "text": _text(entry) if text is None else text}


def _out_of_limits(session: Session, period: Period) -> list[dict[str, Any]]:
    """Values accepted outside their limits at task completion, one item per value."""
    query = (select(AuditEntry).where(AuditEntry.action == "task.completed",
                                      AuditEntry.ts >= clock.isoformat(period.since),
                                      AuditEntry.ts < clock.isoformat(period.until),
                                      AuditEntry.changes.contains('"out_of_limits":true'))
             .order_by(AuditEntry.seq))
    items = []
    for entry in session.execute(query).scalars():
        for change in json.loads(entry.changes):
            if not (isinstance(change, list) and len(change) == 3 and change[0] == "_form" and isinstance(change[2], dict)):
                continue
            for path, info in sorted((change[2].get("fields") or {}).items()):
                if isinstance(info, dict) and info.get("out_of_limits"):
                    text = (f"{path} = {info.get('value')} {info.get('unit') or ''}".rstrip()
                            + f" (limits {dumps(info.get('limits'))}); exception: {info.get('exception_comment') or '-'}")
                    items.append(_item(entry, text[:ITEM_TEXT_MAX], EXCEPTION_ITEM))
    return items


def _trail_status(db: Database, settings: Settings) -> dict[str, Any]:
    from audit.verify import verify_trail

    try:
        report = verify_trail(db, settings)
    except AuditError as exc:
        return {"intact": False, "message": str(exc)}
    return {"intact": True, "entries": report.entries, "head_seq": report.head_seq, "head_hash": report.head_hash,
            "checkpoints": report.checkpoints, "message": report.summary()}


def build_report(db: Database, settings: Settings, period: Period, generated_by: Actor) -> dict[str, Any]:
    """The report's content: period, trail status, every section's counts and items, activity, checkpoints."""
    trail = _trail_status(db, settings)
    since, until = clock.isoformat(period.since), clock.isoformat(period.until)
    in_period = (AuditEntry.ts >= since, AuditEntry.ts < until)
    with db.read_session() as session:
        sections = []
        for section in SECTIONS:
            rows = session.execute(select(AuditEntry).where(*in_period, _prefix_condition(section.prefixes))
                                   .order_by(AuditEntry.seq)).scalars()
            items = [_item(entry) for entry in rows]
            if section.key == "deviations":
                items = sorted(items + _out_of_limits(session, period), key=lambda i: (i["seq"], i["action"]))
            counts: dict[str, int] = {}
            for item in items:
                counts[item["action"]] = counts.get(item["action"], 0) + 1
            sections.append({"key": section.key, "title_en": section.title_en, "title_zh": section.title_zh,
                             "count": len(items), "counts": dict(sorted(counts.items())), "items": items})
        activity = dict(session.execute(select(AuditEntry.action, func.count()).where(
            *in_period, AuditEntry.action.in_(ACTIVITY)).group_by(AuditEntry.action)).all())
        bounds = session.execute(select(func.count(), func.min(AuditEntry.seq), func.max(AuditEntry.seq))
                                 .where(*in_period)).one()
        checkpoints = session.execute(select(AuditCheckpoint).where(
            AuditCheckpoint.ts >= since, AuditCheckpoint.ts < until).order_by(AuditCheckpoint.id)).scalars().all()
    return {
        "v": 1, "record_type": RECORD_TYPE, "period": period.to_json(),
        "generated_at": clock.isoformat(clock.now()),
        "generated_by": {"user_id": generated_by.user_id, "printed_name": generated_by.printed_name},
        "trail": trail,
        "entries": {"count": int(bounds[0] or 0), "first_seq": bounds[1], "last_seq": bounds[2]},
        "activity": {action: int(activity.get(action, 0)) for action in ACTIVITY},
        "checkpoints": {"count": len(checkpoints),
                        "first": _checkpoint(checkpoints[0]) if checkpoints else None,
                        "last": _checkpoint(checkpoints[-1]) if checkpoints else None,
                        "keys": sorted({c.key_id for c in checkpoints})},
        "sections": sections,
    }


def _checkpoint(row: AuditCheckpoint) -> dict[str, Any]:
    return {"seq": row.seq, "entry_hash": row.entry_hash, "ts": row.ts, "key_id": row.key_id}


def record_report(uow: UnitOfWork, content: dict[str, Any]) -> PeriodicReport:
    """Store the report (its content is then fixed) and audit `periodic_report.generated`."""
    text = dumps(content)
    by = content["generated_by"]
    row = PeriodicReport(period_from=content["period"]["from"], period_to=content["period"]["to"],
                         generated_at=content["generated_at"], generated_by=by["user_id"],
                         generated_by_name=by["printed_name"], content=text,
                         content_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
    uow.session.add(row)
    uow.session.flush()
    uow.audit("periodic_report.generated", RECORD_TYPE, row.id,
              details={"period": content["period"], "content_sha256": row.content_sha256,
                       "counts": {s["key"]: s["count"] for s in content["sections"]},
                       "trail_intact": content["trail"]["intact"]})
    return row


def load_report(session: Session, report_id: int) -> PeriodicReport:
    row = session.get(PeriodicReport, report_id)
    if row is None:
        raise ReportNotFound(f"no periodic report {report_id}")
    return row


def list_reports(session: Session, limit: int = 50) -> list[PeriodicReport]:
    return list(session.execute(select(PeriodicReport).order_by(PeriodicReport.id.desc()).limit(limit)).scalars())


def stored_content(row: PeriodicReport) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(row.content)
    if hashlib.sha256(row.content.encode("utf-8")).hexdigest() != row.content_sha256:
        raise ReportError(f"periodic report {row.id}: its content does not match its SHA-256")
    return content


# ---------------------------------------------------------------- the printout
def _site(ts: str | None, settings: Settings) -> str:
    from audit.entry_text import site_time

    return site_time(ts, settings) if ts else ""


def report_html(row: PeriodicReport, settings: Settings, signatures_html: str) -> tuple[str, str]:
    """(title, body HTML) of the printout; `signatures_html` is the signature block (manifestations)
    or "" for blank signature lines to sign by hand."""
    from audit.pdf import escape as e

    content = stored_content(row)
    period = content["period"]
    title = f"Periodic evaluation report 定期评估报告 No. {row.id}: {period['first_day']} – {period['last_day']}"
    trail = content["trail"]
    by = content["generated_by"]
    head = [
        ("Period / 期间", f"{period['first_day']} – {period['last_day']} ({period['timezone']}); UTC "
                         f"{period['from']} – {period['to']} (end excluded)"),
        ("Generated / 生成", f"{content['generated_at']} ({_site(content['generated_at'], settings)}) by / 由 "
                            f"{by['printed_name']} ({by['user_id']})"),
        ("Audit trail / 审计追踪", ("intact / 完整: " if trail["intact"] else "NOT INTACT / 不完整: ") + trail["message"]),
        ("Entries in the period / 期间条目", _entries_line(content["entries"])),
        ("Signed checkpoints / 签名检查点", _checkpoints_line(content["checkpoints"])),
        ("Content SHA-256 / 内容摘要", row.content_sha256),
    ]
    parts = ["<table class='head'><colgroup><col style='width:22%'><col></colgroup><tbody>"]
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in head]
    parts.append("</tbody></table><h2>Summary / 摘要</h2><table class='summary'><colgroup><col style='width:60%'>"
                 "<col></colgroup><thead><tr><th>Section / 部分</th><th>Count / 数量</th></tr></thead><tbody>")
    for section in content["sections"]:
        parts.append(f"<tr><td>{e(section['title_en'])} / {e(section['title_zh'])}</td><td>{section['count']}</td></tr>")
    parts.append("</tbody></table><p class='small'>Activity / 活动: " + e("; ".join(
        f"{action} {count}" for action, count in content["activity"].items())) + "</p>")
    for section in content["sections"]:
        parts.append(f"<h2 id='section-{e(section['key'])}'>{e(section['title_en'])} / {e(section['title_zh'])}"
                     f" ({section['count']})</h2>")
        if not section["items"]:
            parts.append("<p>None in the period. / 本期间无。</p>")
            continue
        parts.append("<p class='small'>" + e("; ".join(f"{a}: {n}" for a, n in section["counts"].items())) + "</p>")
        parts.append("<table><colgroup><col style='width:6%'><col style='width:15%'><col style='width:14%'>"
                     "<col style='width:15%'><col style='width:14%'><col></colgroup><thead><tr><th>Seq</th>"
                     "<th>Time (UTC / site)</th><th>User / 用户</th><th>Action / 操作</th><th>Object / 对象</th>"
                     "<th>Details / 详情</th></tr></thead><tbody>")
        for item in section["items"]:
            parts.append(f"<tr><td>{item['seq']}</td><td>{e(item['ts'])}<br><span class='small'>"
                         f"{e(_site(item['ts'], settings))}</span></td><td>{e(item['actor_name'])}<br>"
                         f"<span class='small'>{e(item['actor_id'])}</span></td><td>{e(item['action'])}</td>"
                         f"<td>{e(item['object'])}</td><td>{e(item['text'])}</td></tr>")
        parts.append("</tbody></table>")
    parts.append("<h2 class='signatures'>Evaluation and signature / 评估和签名</h2>")
    if signatures_html:
        parts.append(signatures_html)
    else:
        parts.append("<p>Not signed electronically. / 未电子签名。</p>")
    parts.append("<table class='sign-lines'><tbody>"
                 "<tr><th>Conclusion / 结论</th><td style='height:40pt'></td></tr>"
                 "<tr><th>Reviewed by (QA) / 审核人（QA）</th><td style='height:22pt'></td></tr>"
                 "<tr><th>Signature and date / 签名和日期</th><td style='height:22pt'></td></tr></tbody></table>")
    return title, "".join(parts)


def _entries_line(entries: dict[str, Any]) -> str:
    if not entries["count"]:
        return "0"
    return f"{entries['count']} (seq {entries['first_seq']} – {entries['last_seq']})"


def _checkpoints_line(checkpoints: dict[str, Any]) -> str:
    if not checkpoints["count"]:
        return "0"
    first, last = checkpoints["first"], checkpoints["last"]
    return (f"{checkpoints['count']}: first at entry {first['seq']} ({first['ts']}), last at entry {last['seq']} "
            f"({last['ts']}); keys {', '.join(checkpoints['keys'])}")


REPORT_CSS = """
h2 { font-size: 11pt; margin: 10pt 0 3pt 0; }
table.head th { width: 22%; }
table.sign-lines { margin-top: 6pt; }
table.sign-lines th { width: 30%; }
"""


def report_pdf(row: PeriodicReport, settings: Settings, signatures_html: str = "") -> bytes:
    """The report as PDF/A-3b (Chinese renders: the CJK font stack of audit.pdf)."""
    from audit.pdf import html_document, render_pdf

    title, body = report_html(row, settings, signatures_html)
    meta = f"periodic_report/{row.id} sha256 {row.content_sha256[:16]}…"
    return render_pdf(html_document(title, body, lang="zh-CN", meta=meta, extra_css=REPORT_CSS))
