"""`gmp records ...`: the record of a process instance from the command line.

The command asks the web application itself (in process, no server needed) with the
person's session, so the role x URL matrix, the record's content and its PDF are exactly
what the browser gets.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from store.cli import cli_settings

FORMATS = {"pdf": ".pdf", "json": ".json"}


def fetch_record(instance_id: int, fmt: str, user_id: str | None) -> tuple[bytes, str]:
    """The record as the web application renders it for the person at the terminal: (bytes, who)."""
    from signatures.cli_session import person_at_terminal
    from web.current_user import SESSION_KEY
    from web.factory import create_app

    settings = cli_settings()
    app = create_app()
    db = app.extensions["gmp.db"]
    try:
        with person_at_terminal(db, settings, user_id) as person:
            client = app.test_client()
            with client.session_transaction() as cookie:
                cookie[SESSION_KEY] = person.session_id
            response = client.get(f"/records/{instance_id}{FORMATS[fmt]}")
            who = f"{person.actor.printed_name} ({person.user_id})"
    finally:
        db.dispose()
    if response.status_code == 403:
        raise click.ClickException(f"{who} may not read records (roles allowed by the access matrix: business and "
                                   "audit roles); the refusal was recorded")
    if response.status_code == 404:
        raise click.ClickException(f"there is no process instance {instance_id}")
    if response.status_code != 200:
        text = response.get_data(as_text=True)
        raise click.ClickException(f"the record could not be produced (HTTP {response.status_code}): {text[:300]}")
    return response.get_data(), who


@click.group("records")
def records() -> None:
    """Records of process instances (as in the web application)."""


@records.command("pdf")
@click.argument("instance_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="the PDF file to write")
@click.option("--user", help="who reads (authenticated; default: the `gmp login` session)")
def records_pdf(instance_id: int, out: Path, user: str | None) -> None:
    """Write the complete record of a process instance as PDF/A-3b (English and Chinese)."""
    body, who = fetch_record(instance_id, "pdf", user)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body)
    click.echo(f"record of instance {instance_id} written to {out} ({len(body)} bytes) for {who}")


@records.command("json")
@click.argument("instance_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="the file to write (default: stdout)")
@click.option("--user", help="who reads (authenticated; default: the `gmp login` session)")
def records_json(instance_id: int, out: Path | None, user: str | None) -> None:
    """The complete record of a process instance as JSON."""
    body, _who = fetch_record(instance_id, "json", user)
    if out is None:
        click.echo(body.decode("utf-8"))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(body)
    click.echo(f"record of instance {instance_id} written to {out}")


@records.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def records_verify(file: Path) -> None:
    """Check an exported record (the JSON of `gmp records json`, also attached to the PDF) against the
    audit trail: the trail intact, every value, correction, exception, sample and timeline entry as
    recorded (exit 0 only if it matches)."""
    from audit.errors import AuditError
    from store.db import Database
    from store.schema import SchemaNotCurrent, require_current
    from web.record_verify import verify_record

    settings = cli_settings()
    try:
        require_current(settings.database_url)
    except SchemaNotCurrent as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
        record["instance"]["id"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{file} is not a record exported by `gmp records json` "
                                   f"(or attached to its PDF): {exc}") from exc
    db = Database(settings.database_url)
    try:
        report = verify_record(db, record, settings)
    except AuditError as exc:
        raise click.ClickException(f"the audit trail itself is broken: {exc}") from exc
    finally:
        db.dispose()
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)
