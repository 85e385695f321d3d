"""`gmp archive create|verify|show`: closed records (completed or cancelled instances that ended
before a date) into one archive file that verifies offline and stays readable by later releases
(format in audit/archive.py and docs/operations.md).

    gmp archive create --before 2027-01-01 --out 2026.gmparchive
    gmp archive verify 2026.gmparchive --public-key keys.pem
    gmp archive show 2026.gmparchive [--record 17 --pdf out.pdf | --json out.json]

`verify` and `show` read only the file (no database, no configuration). The records stay in the
database (records are never deleted); the archive is the copy kept for the retention period.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import click

from core.errors import GmpError


@click.group()
def archive() -> None:
    """Archive files of closed records (create, verify offline, show)."""


def closed_instances(session: Any, before: str) -> list[Any]:
    from sqlalchemy import select

    from engine.models import ProcessInstance

    return list(session.execute(select(ProcessInstance).where(
        ProcessInstance.status.in_(("completed", "cancelled")), ProcessInstance.ended_at.is_not(None),
        ProcessInstance.ended_at < before).order_by(ProcessInstance.id)).scalars())


def build_archive(db: Any, settings: Any, before_day: str, out: Path, actor: Any) -> dict[str, Any]:
    """Write the archive of the records closed before `before_day` (YYYY-MM-DD, UTC); its manifest."""
    from datetime import date, datetime, time, timezone

    from alembic.runtime.migration import MigrationContext

    from audit.archive import ARCHIVE_FORMAT, ARCHIVE_VERSION, ArchiveInvalid, archive_export, write_archive
    from audit.pdf import html_document, render_pdf
    from core import clock
    from store.uow import UnitOfWork
    from web.factory import create_app
    from web.records import build_record

    try:
        day = date.fromisoformat(before_day)
    except ValueError as exc:
        raise ArchiveInvalid(f"--before must be a date (YYYY-MM-DD), not {before_day!r}") from exc
    cutoff = clock.isoformat(datetime.combine(day, time.min, tzinfo=timezone.utc))
    app = create_app({"instance_path": str(settings.instance_path), "database_url": settings.database_url,
                      "secret_key": settings.secret_key, "server_key_passphrase": settings.server_key_passphrase})
    files: dict[str, bytes] = {}
    records: list[dict[str, Any]] = []
    objects: dict[str, set[str]] = {}
    try:
        from engine.runtime import using

        with app.test_request_context("/"), using(app.extensions["gmp.runtime"]):
            from flask import render_template

            with db.read_session() as session:
                closed = closed_instances(session, cutoff)
                if not closed:
                    raise ArchiveInvalid(f"no closed record (completed or cancelled) ended before {before_day}")
                with db.engine.connect() as connection:
                    revision = MigrationContext.configure(connection).get_current_revision()
                for instance in closed:
                    record = build_record(session, instance.id)
                    record["exported_at"] = clock.isoformat(clock.now())
                    body = json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
                    title = f"Record of {record['instance']['title'] or instance.id}"
                    pdf = render_pdf(html_document(title, render_template("records/record_pdf.html", record=record)))
                    files[f"records/{instance.id}.json"], files[f"records/{instance.id}.pdf"] = body, pdf
                    records.append({"instance_id": instance.id, "title": instance.title, "status": instance.status,
                                    "ended_at": instance.ended_at, "json": f"records/{instance.id}.json",
                                    "json_sha256": hashlib.sha256(body).hexdigest(),
                                    "pdf": f"records/{instance.id}.pdf", "pdf_sha256": hashlib.sha256(pdf).hexdigest()})
                    for entry in record["timeline"]:
                        kind, _, object_id = entry["object"].partition("/")
                        objects.setdefault(kind, set()).add(object_id)
    finally:
        app.extensions["gmp.db"].dispose()
    trail = []
    with tempfile.TemporaryDirectory() as folder:
        for kind, ids in sorted(objects.items()):
            path = Path(folder) / f"{kind}.jsonl"
            result = archive_export(db, settings, kind, ids, path)
            data = path.read_bytes()
            files[f"trail/{kind}.jsonl"] = data
            trail.append({"file": f"trail/{kind}.jsonl", "object_type": kind, "objects": len(ids),
                          "entries": result.entries, "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "created_at": clock.isoformat(clock.now()),
                "created_by": {"user_id": actor.user_id, "printed_name": actor.printed_name},
                "closed_before": cutoff, "schema_revision": revision, "records": records, "trail": trail}
    digest = write_archive(out, manifest, files, settings)
    with UnitOfWork(db, actor) as uow:
        uow.audit("archive.created", "archive", digest[:16],
                  details={"file": out.name, "manifest_sha256": digest, "closed_before": cutoff,
                           "instances": [r["instance_id"] for r in records]})
        uow.commit()
    return manifest


@archive.command("create")
@click.option("--before", "before", required=True, help="archive the records closed before this day (YYYY-MM-DD, UTC)")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="archive file")
def create_command(before: str, out: Path) -> None:
    """Write the archive of the records closed before a day (they stay in the database)."""
    from audit.cli import open_store, os_user
    from store.canonical import Actor

    settings, db = open_store()
    try:
        manifest = build_archive(db, settings, before, out, Actor("system", f"System (command line, OS user {os_user()})"))
    except GmpError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.dispose()
    click.echo(f"archive {out}: {len(manifest['records'])} records closed before {manifest['closed_before']}, "
               f"{sum(t['entries'] for t in manifest['trail'])} audit entries")


class _Fail(click.ClickException):
    exit_code = 1


@archive.command("verify")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--public-key", "public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM file of the trusted server public keys (gmp audit public-key); default: the archive's own")
def verify_command(path: Path, public_key: Path | None) -> None:
    """Verify an archive offline (exit 0 only if intact)."""
    from audit.archive import verify_archive

    try:
        report = verify_archive(path, public_key.read_bytes() if public_key else None)
    except GmpError as exc:
        raise _Fail(str(exc)) from exc
    click.echo(report.summary())


@archive.command("show")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--record", "record", type=int, default=None, help="instance number of one record")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write its PDF here")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write its JSON here")
def show_command(path: Path, record: int | None, pdf: Path | None, json_out: Path | None) -> None:
    """List an archive's records, or extract one record's PDF or JSON."""
    from audit.archive import read_manifest, read_member

    try:
        manifest = read_manifest(path)
        if record is None:
            click.echo(f"{manifest['format']} v{manifest['version']}, created {manifest['created_at']} by "
                       f"{manifest['created_by']['printed_name']}, schema {manifest['schema_revision']}, "  # type: ignore[index]
                       f"records closed before {manifest['closed_before']}:")
            for item in manifest["records"]:  # type: ignore[union-attr]
                click.echo(f"  #{item['instance_id']} {item['status']} {item['ended_at']} {item['title']}")
            return
        found = [r for r in manifest["records"] if r["instance_id"] == record]  # type: ignore[union-attr,index]
        if not found:
            raise _Fail(f"{path}: no record #{record}")
        for target, member in ((pdf, found[0]["pdf"]), (json_out, found[0]["json"])):
            if target is not None:
                target.write_bytes(read_member(path, member))
                click.echo(f"record #{record}: {member} written to {target}")
        if pdf is None and json_out is None:
            click.echo(read_member(path, found[0]["json"]).decode("utf-8"))
    except GmpError as exc:
        raise _Fail(str(exc)) from exc
