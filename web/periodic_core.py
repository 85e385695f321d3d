"""Periodic evaluation reports beyond the audit floor: signing (Part 11, meaning "reviewed",
QA by signing_rules.yaml) and the printout with the signatures' manifestations. Used by the
page (web/periodic.py) and `gmp report periodic` (web/report_cli.py). Does not import Flask.
"""
from __future__ import annotations

from typing import Any

MEANING = "reviewed"


def report_record(row: Any) -> Any:
    """The stored report as a signable record: its canonical content, version 1."""
    from audit.periodic import RECORD_TYPE, stored_content
    from signatures.records import SimpleRecord

    return SimpleRecord(RECORD_TYPE, str(row.id), 1, stored_content(row))


def signature_rows(session: Any, row: Any) -> list[Any]:
    from audit.periodic import RECORD_TYPE
    from signatures.service import signatures_for

    return signatures_for(session, RECORD_TYPE, str(row.id))


def pdf_bytes(session: Any, row: Any, app_settings: Any) -> bytes:
    """The printout with the signatures' manifestations (or blank signature lines)."""
    from audit.periodic import report_pdf
    from signatures.manifestation import render_pdf_block

    signed = signature_rows(session, row)
    return report_pdf(row, app_settings, render_pdf_block(signed, app_settings) if signed else "")


def generate(db: Any, app_settings: Any, first: str, last: str, actor: Any, *, credentials: Any = None,
             conclusion: str | None = None) -> int:
    """Build the report (read-only, outside the write transaction), store it; its number. With
    `credentials` the generating person also signs it in the same transaction (nothing is stored
    when the signature is refused)."""
    from audit.periodic import Period, build_report, record_report
    from store.uow import UnitOfWork

    period = Period.from_dates(first, last, app_settings)
    content = build_report(db, app_settings, period, actor)
    with UnitOfWork(db, actor) as uow:
        row = record_report(uow, content)
        if credentials is not None:
            from signatures.service import sign

            sign(uow, report_record(row), MEANING, credentials, None, app_settings, reason=conclusion or None)
        report_id = int(row.id)
        uow.commit()
    return report_id
