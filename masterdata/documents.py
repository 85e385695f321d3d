"""Controlled documents: content files, who must train on a document, controlled copies.

The document register itself is the `document` kind under change control (masterdata.kinds,
masterdata.changes); the document lifecycle process (bpmn/document_lifecycle) is what
changes it. This module keeps what the register does not hold:

    store_content(uow, "SOP-DSP-001", 5, "sop.txt", data, "text/plain", instance_id=12)
    content_of(session, "SOP-DSP-001", 5)        # the version's content file (newest upload)
    trainees_for(session, "SOP-DSP-001")         # active users whose roles need it (training matrix)
    untrained(session, "SOP-DSP-001", 5, users)  # who holds no qualification on v5 yet
    issue_copy(uow, "SOP-DSP-001", recipient=..., location=...)   # a numbered controlled copy (PDF)
    close_copy(uow, "SOP-DSP-001/5-CC-001", "returned", note=...)
    reconciliation(session, "SOP-DSP-001")       # per version: issued = returned + destroyed + outstanding

Every write is an audit entry; the rows are append-only (masterdata.document_models).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from masterdata import changes, qualifications
from masterdata.document_models import DocContentRow, DocCopyClosureRow, DocCopyRow
from masterdata.errors import RecordInvalid, RecordNotFound, RecordStateError

MAX_CONTENT_BYTES = 20 * 1024 * 1024
FILE_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")
OUTCOMES = ("returned", "destroyed")
MAX_NOTE = 2000


@dataclass(frozen=True)
class ContentFile:
    id: int
    code: str
    version: int
    file_name: str
    media_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: str
    instance_id: int | None


@dataclass(frozen=True)
class ControlledCopy:
    id: int
    copy_number: str
    code: str
    version: int
    recipient: str
    location: str
    purpose: str | None
    issued_by: str
    issued_at: str
    pdf_sha256: str
    content_sha256: str
    instance_id: int | None
    outcome: str | None = None  # None: outstanding; returned / destroyed
    closed_by: str | None = None
    closed_at: str | None = None
    note: str | None = None

    @property
    def status(self) -> str:
        return self.outcome or "outstanding"


@dataclass
class Reconciliation:
    """Copies of one version: issued = returned + destroyed + outstanding."""

    code: str
    version: int
    copies: list[ControlledCopy] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for c in self.copies if c.status == status)

    @property
    def issued(self) -> int:
        return len(self.copies)

    @property
    def returned(self) -> int:
        return self.count("returned")

    @property
    def destroyed(self) -> int:
        return self.count("destroyed")

    @property
    def outstanding(self) -> int:
        return self.count("outstanding")

    @property
    def balanced(self) -> bool:
        return self.issued == self.returned + self.destroyed + self.outstanding


def _content(row: DocContentRow) -> ContentFile:
    return ContentFile(row.id, row.document_code, row.version, row.file_name, row.media_type, row.size, row.sha256,
                       row.uploaded_by, row.uploaded_at, row.instance_id)


def _code(value: Any) -> str:
    code = str(value or "").strip()
    if not code or len(code) > 64 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", code):
        raise RecordInvalid(f"document number {value!r}: letters, digits and . _ / - (up to 64)",
                            [("code", "invalid")])
    return code


# ---------------------------------------------------------------- content files
def store_content(uow: Any, code: str, version: int, file_name: str, data: bytes, media_type: str = "",
                  *, instance_id: int | None = None) -> ContentFile:
    """Store the content file of a document version and record its SHA-256.

    Refused, storing nothing: an empty file, one over 20 MB, a file name with a path or
    control characters, a version that is not a whole number from 1."""
    try:
        code = _code(code)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise RecordInvalid(f"version {version!r}: a whole number from 1", [("version", "invalid")])
        name = (file_name or "").strip()
        if not FILE_NAME.match(name):
            raise RecordInvalid("the content file needs a plain file name (no folders or control characters, "
                                "up to 200 characters)", [("file", "file name")])
        if not data:
            raise RecordInvalid(f"the content file {name} is empty", [("file", "empty")])
        if len(data) > MAX_CONTENT_BYTES:
            raise RecordInvalid(f"the content file {name} is {len(data) // (1024 * 1024)} MB: at most 20 MB",
                                [("file", "too large")])
    except RecordInvalid as exc:
        uow.record_refusal("doc_content.refused", "document", f"{code}/{version}", reason=str(exc))
        raise
    digest = hashlib.sha256(data).hexdigest()
    row = DocContentRow(document_code=code, version=version, instance_id=instance_id, file_name=name,
                        media_type=(media_type or "application/octet-stream")[:100], size=len(data), sha256=digest,
                        content=bytes(data), uploaded_by=uow.actor.user_id, uploaded_at=clock.isoformat(clock.now()))
    uow.session.add(row)
    uow.session.flush()
    uow.audit("doc_content.stored", "document", f"{code}/{version}",
              changes=[["content_sha256", None, digest]],
              details={"content_id": row.id, "file_name": name, "size": len(data), "media_type": row.media_type,
                       "instance_id": instance_id})
    return _content(row)


def content_of(session: Session, code: str, version: int) -> ContentFile | None:
    """The content file of a version: the newest upload."""
    row = session.scalar(select(DocContentRow).where(DocContentRow.document_code == code,
                                                     DocContentRow.version == version)
                         .order_by(DocContentRow.id.desc()).limit(1))
    return _content(row) if row is not None else None


def contents_of(session: Session, code: str, version: int | None = None) -> list[ContentFile]:
    stmt = select(DocContentRow).where(DocContentRow.document_code == code)
    if version is not None:
        stmt = stmt.where(DocContentRow.version == version)
    return [_content(r) for r in session.scalars(stmt.order_by(DocContentRow.id))]


def content_bytes(session: Session, content_id: int) -> tuple[ContentFile, bytes]:
    row = session.get(DocContentRow, content_id)
    if row is None:
        raise RecordNotFound(f"no content file {content_id}")
    return _content(row), bytes(row.content)


# ---------------------------------------------------------------- who trains on a document
def trainees_for(session: Session, code: str) -> list[str]:
    """Active users holding a role whose training matrix entry (in force) lists the document."""
    from signatures.models import UserAccount, UserRole

    roles = [r.key for r in changes.effective_items(session, "training_matrix") if code in (r.data.get("sops") or [])]
    if not roles:
        return []
    return list(session.scalars(
        select(UserRole.user_id).join(UserAccount, UserAccount.user_id == UserRole.user_id)
        .where(UserRole.role.in_(roles), UserRole.revoked_at.is_(None), UserAccount.status == "active")
        .distinct().order_by(UserRole.user_id)))


def untrained(session: Session, code: str, version: int, users: Iterable[str]) -> list[str]:
    """Of `users`, those without a qualification on `code` v`version` that is current or
    pending (granted for a later date), not revoked."""
    held = {q.user_id for q in qualifications.qualifications_of(session, sop=code)
            if q.version == version and q.state() in (qualifications.CURRENT, qualifications.PENDING)}
    return [u for u in users if u not in held]


# ---------------------------------------------------------------- controlled copies
def _copies(session: Session, *conditions: Any) -> list[ControlledCopy]:
    stmt = (select(DocCopyRow, DocCopyClosureRow).outerjoin(DocCopyClosureRow, DocCopyClosureRow.copy_id == DocCopyRow.id)
            .where(*conditions).order_by(DocCopyRow.id))
    return [ControlledCopy(c.id, c.copy_number, c.document_code, c.version, c.recipient, c.location, c.purpose,
                           c.issued_by, c.issued_at, c.pdf_sha256, c.content_sha256, c.instance_id,
                           x.outcome if x else None, x.closed_by if x else None, x.closed_at if x else None,
                           x.note if x else None)
            for c, x in session.execute(stmt).all()]


def copies_of(session: Session, code: str, version: int | None = None) -> list[ControlledCopy]:
    conditions = [DocCopyRow.document_code == code]
    if version is not None:
        conditions.append(DocCopyRow.version == version)
    return _copies(session, *conditions)


def get_copy(session: Session, copy_number: str) -> ControlledCopy:
    found = _copies(session, DocCopyRow.copy_number == copy_number)
    if not found:
        raise RecordNotFound(f"no controlled copy {copy_number!r}")
    return found[0]


def copy_pdf(session: Session, copy_number: str) -> bytes:
    row = session.scalar(select(DocCopyRow).where(DocCopyRow.copy_number == copy_number))
    if row is None:
        raise RecordNotFound(f"no controlled copy {copy_number!r}")
    return bytes(row.pdf)


def _text(value: Any, what: str, limit: int = 200) -> str:
    text = str(value or "").strip()
    if not text:
        raise RecordInvalid(f"the {what} is required", [(what, "is required")])
    if len(text) > limit:
        raise RecordInvalid(f"the {what} is longer than {limit} characters", [(what, "too long")])
    return text


def issue_copy(uow: Any, code: str, *, recipient: str, location: str, purpose: str | None = None,
               instance_id: int | None = None, lang: str = "zh-CN") -> ControlledCopy:
    """Issue a controlled copy of the version of `code` in force now: a PDF carrying the
    unique copy number and the "controlled copy" mark on every page.

    Refused: a document not in force (never effective, withdrawn), a version without a
    content file, a missing recipient or location."""
    session: Session = uow.session
    try:
        code = _code(code)
        who, where = _text(recipient, "recipient"), _text(location, "location")
        why = (purpose or "").strip()[:MAX_NOTE] or None
        revision = changes.effective(session, "document", code)
        if revision is None:
            raise RecordStateError(f"{code} is not in force (not yet effective, or withdrawn): no controlled copy "
                                   "can be issued")
        version = int(revision.data["version"])
        content = content_of(session, code, version)
        if content is None:
            raise RecordStateError(f"{code} v{version} has no stored content file: no controlled copy can be issued")
    except (RecordInvalid, RecordStateError) as exc:
        uow.record_refusal("doc_copy.refused", "document", str(code), reason=str(exc))
        raise
    prefix = f"{code}/{version}-CC-"
    number = (session.scalar(select(func.count()).select_from(DocCopyRow).where(
        DocCopyRow.document_code == code, DocCopyRow.version == version)) or 0) + 1
    copy_number = f"{prefix}{number:03d}"
    _, data = content_bytes(session, content.id)
    now = clock.isoformat(clock.now())
    pdf = render_copy(revision.data, copy_number, content, data, recipient=who, location=where,
                      issued_at=now, issued_by=uow.actor.printed_name, lang=lang)
    row = DocCopyRow(copy_number=copy_number, document_code=code, version=version, content_sha256=content.sha256,
                     recipient=who, location=where, purpose=why, instance_id=instance_id,
                     issued_by=uow.actor.user_id, issued_at=now, pdf=pdf, pdf_sha256=hashlib.sha256(pdf).hexdigest())
    session.add(row)
    session.flush()
    uow.audit("doc_copy.issued", "document", f"{code}/{version}",
              changes=[["copy", None, copy_number], ["recipient", None, who], ["location", None, where]],
              details={"copy_id": row.id, "pdf_sha256": row.pdf_sha256, "content_sha256": content.sha256,
                       "instance_id": instance_id})
    return get_copy(session, copy_number)


def close_copy(uow: Any, copy_number: str, outcome: str, *, note: str, instance_id: int | None = None
               ) -> ControlledCopy:
    """Record that a controlled copy was returned or destroyed (once)."""
    session: Session = uow.session
    try:
        found = get_copy(session, str(copy_number or "").strip())
        if outcome not in OUTCOMES:
            raise RecordInvalid(f"outcome {outcome!r}: returned or destroyed", [("outcome", "invalid")])
        text = _text(note, "note", MAX_NOTE)
        if found.outcome is not None:
            raise RecordStateError(f"controlled copy {found.copy_number} was {found.outcome} already on "
                                   f"{found.closed_at[:10] if found.closed_at else '?'} by {found.closed_by}")
    except (RecordInvalid, RecordStateError, RecordNotFound) as exc:
        uow.record_refusal("doc_copy.close_refused", "doc_copy", str(copy_number), reason=str(exc))
        raise
    row = DocCopyClosureRow(copy_id=found.id, outcome=outcome, note=text, closed_by=uow.actor.user_id,
                            closed_at=clock.isoformat(clock.now()), instance_id=instance_id)
    session.add(row)
    session.flush()
    uow.audit(f"doc_copy.{outcome}", "document", f"{found.code}/{found.version}", reason=text,
              changes=[["copy_status", "outstanding", outcome]], details={"copy": found.copy_number})
    return get_copy(session, found.copy_number)


def reconciliation(session: Session, code: str) -> list[Reconciliation]:
    """Per version of `code` (newest first): its copies and the counts."""
    by_version: dict[int, Reconciliation] = {}
    for copy in copies_of(session, code):
        by_version.setdefault(copy.version, Reconciliation(code, copy.version)).copies.append(copy)
    return [by_version[v] for v in sorted(by_version, reverse=True)]


def outstanding(session: Session, code: str | None = None) -> list[ControlledCopy]:
    conditions: list[Any] = [DocCopyClosureRow.id.is_(None)]
    if code is not None:
        conditions.append(DocCopyRow.document_code == code)
    return _copies(session, *conditions)


# ---------------------------------------------------------------- the PDF of a copy
COPY_CSS = """
@page { size: A4 portrait;
  @top-center { content: "%(mark)s · %(number)s"; font-family: %(font)s; font-size: 9pt; color: #b00020;
                font-weight: bold; }
  @bottom-left { content: "%(mark)s %(number)s · %(code)s v%(version)s"; font-family: %(font)s; font-size: 7pt;
                 color: #b00020; } }
.mark { border: 2pt solid #b00020; color: #b00020; font-weight: bold; font-size: 13pt; padding: 4pt 8pt;
        display: inline-block; margin: 4pt 0 8pt 0; }
.content { white-space: pre-wrap; font-size: 9.5pt; line-height: 1.45; border-top: 0.5pt solid #888; padding-top: 6pt; }
"""


def _css_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render_copy(document: dict[str, Any], copy_number: str, content: ContentFile, data: bytes, *, recipient: str,
                location: str, issued_at: str, issued_by: str, lang: str = "zh-CN") -> bytes:
    """The controlled copy as PDF/A-3b: the register data, the copy number and mark on every
    page, and the content (text files reproduced; any other file named with its SHA-256)."""
    from audit.pdf import FONT_STACK, escape, html_document, render_pdf

    mark = "CONTROLLED COPY 受控副本"
    code, version = str(document.get("code")), document.get("version")
    css = COPY_CSS % {"mark": _css_text(mark), "number": _css_text(copy_number), "font": FONT_STACK,
                      "code": _css_text(code), "version": version}
    rows = [("Copy number 副本编号", copy_number), ("Document 文件", f"{code} v{version}"),
            ("Title 标题", document.get("title")), ("标题（中文）", document.get("title_zh")),
            ("Type 类型", document.get("type")), ("Department 部门", document.get("department")),
            ("Effective date 生效日期", document.get("effective_date")),
            ("Issued to 发放给", f"{recipient} — {location}"), ("Issued 发放", f"{issued_at} {issued_by}"),
            ("Content file 内容文件", f"{content.file_name} ({content.size} bytes)"),
            ("Content SHA-256", content.sha256)]
    table = "".join(f"<tr><th style='width:30%'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows if v)
    text: str | None = None
    if content.media_type.startswith("text/") or content.file_name.lower().endswith((".txt", ".md")):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    note = ("The content file is not text: this copy reproduces its identification; the file itself is issued "
            "with this cover and matches the SHA-256 above.")
    shown = f'<div class="content">{escape(text)}</div>' if text is not None else f"<p>{escape(note)}</p>"
    body = f'<div class="mark">{escape(mark)} · {escape(copy_number)}</div><table>{table}</table>{shown}'
    title = f"{code} v{version} — {document.get('title')}"
    return render_pdf(html_document(title, body, lang=lang, meta=f"{mark} {copy_number}", extra_css=css))


def copy_numbers(copies: Sequence[ControlledCopy]) -> list[str]:
    return [c.copy_number for c in copies]
