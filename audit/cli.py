"""`gmp audit ...`: verify, checkpoints, server keys, exports, reviews.

Verification and exports are read-only and need no login for now (auditors run them
from the command line); rotating the key is audited with the system actor and the
operating-system user.
"""
from __future__ import annotations

import getpass
from datetime import datetime, timezone
from pathlib import Path

import click

from audit.canonical import SYSTEM
from audit.errors import AuditError
from core.config import ConfigError, Settings, load_settings
from store.db import Database


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def open_store() -> tuple[Settings, Database]:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    from audit.checkpoints import enable_periodic

    db = Database(settings.database_url)
    enable_periodic(db, settings)
    return settings, db


class _Fail(click.ClickException):
    exit_code = 1


def _fail(exc: AuditError) -> click.ClickException:
    return _Fail(str(exc))


@click.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
def verify_command() -> None:
    """Verify the whole trail and its signed checkpoints (exit 0 only if intact)."""
    from audit.verify import verify_trail

    settings, db = open_store()
    try:
        report = verify_trail(db, settings)
    except AuditError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    click.echo(report.summary())


@audit.command("checkpoint")
def checkpoint_command() -> None:
    """Sign the current head with the server key now."""
    from audit.checkpoints import create_checkpoint

    settings, db = open_store()
    try:
        checkpoint = create_checkpoint(db, settings)
    except AuditError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    click.echo(f"checkpoint at entry {checkpoint.seq} {checkpoint.entry_hash} signed by key {checkpoint.key_id} "
               f"at {checkpoint.ts}")


@audit.command("public-key")
@click.option("--current", is_flag=True, help="only the current key")
def public_key_command(current: bool) -> None:
    """Print the server public keys (PEM), every key ever used unless --current."""
    from cryptography.hazmat.primitives import serialization

    from audit.checkpoints import current_key
    from audit.server_key import public_keys

    settings, db = open_store()
    db.dispose()
    try:
        key = current_key(settings)
    except AuditError as exc:
        raise _fail(exc) from exc
    keys = {key.key_id: key.public} if current else public_keys(settings)
    for key_id, public in keys.items():
        click.echo(f"# server key {key_id}{' (current)' if key_id == key.key_id else ''}")
        click.echo(public.public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode(), nl=False)


@audit.command("rotate-key")
def rotate_key_command() -> None:
    """Create a new server key; old public keys stay valid for verification."""
    from audit.checkpoints import current_key, store_public_keys
    from audit.server_key import rotate_server_key
    from store.uow import UnitOfWork

    settings, db = open_store()
    try:
        old = current_key(settings)
        new = rotate_server_key(settings)
        with UnitOfWork(db, SYSTEM) as uow:
            store_public_keys(uow.session, settings)
            uow.audit("server_key.rotated", "server_key", new.key_id, changes=[["current_key", old.key_id, new.key_id]],
                      details={"os_user": os_user()})
            uow.commit()
    except AuditError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    click.echo(f"server key rotated: {old.key_id} -> {new.key_id}")


def _parse_time(value: str | None, settings: Settings, option: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2026-01-05T08:00:00Z", param_hint=option) from exc
    if parsed.tzinfo is None:  # a time without zone is read in the site time zone
        parsed = parsed.replace(tzinfo=settings.tz())
    return parsed.astimezone(timezone.utc)


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "pdf"]), default="jsonl", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--object-type", help="only entries about this object type")
@click.option("--object-id", "object_ids", multiple=True, help="only these object IDs (with --object-type)")
@click.option("--user", "actor_id", help="only entries by this user ID")
@click.option("--action", "action_prefix", help="only actions starting with this, e.g. signature or task.completed")
@click.option("--since", help="from this time (ISO 8601; without a zone: site time zone)")
@click.option("--until", help="before this time (ISO 8601; without a zone: site time zone)")
def export_command(fmt: str, out: Path, object_type: str | None, object_ids: tuple[str, ...], actor_id: str | None,
                   action_prefix: str | None, since: str | None, until: str | None) -> None:
    """Export the trail (JSONL verifiable offline, CSV, or PDF/A for people)."""
    from audit.export import ExportFilter, export

    settings, db = open_store()
    try:
        flt = ExportFilter(object_type=object_type, object_ids=object_ids, actor_id=actor_id, action_prefix=action_prefix,
                           since=_parse_time(since, settings, "--since"), until=_parse_time(until, settings, "--until"))
        result = export(db, settings, fmt, out, flt)
    except AuditError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    click.echo(f"exported {result.entries} entries to {result.path} ({result.format}); signed checkpoint at entry "
               f"{result.head_seq} written first")


@audit.command("verify-export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--public-key", "key_files", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="trusted server public key(s), PEM (the output of `gmp audit public-key`)")
@click.option("--accept-unanchored", is_flag=True,
              help="accept an export that cannot prove its completeness or whose entries no signature covers "
                   "(version 1 exports); reported, never silent")
def verify_export_command(file: Path, key_files: tuple[Path, ...], accept_unanchored: bool) -> None:
    """Verify a JSONL export without the database (exit 0 only if intact, anchored and provably complete)."""
    from audit.checkpoints import load_public_keys_pem
    from audit.export import verify_export

    try:
        keys = {}
        for key_file in key_files:
            keys.update(load_public_keys_pem(key_file.read_bytes()))
        report = verify_export(file, keys, accept_unanchored=accept_unanchored)
    except AuditError as exc:
        raise _fail(exc) from exc
    click.echo(report.summary())
