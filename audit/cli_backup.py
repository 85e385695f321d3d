"""`gmp backup` and `gmp restore`, audited with the system actor and the OS user (CN-7)."""
from __future__ import annotations

from pathlib import Path

import click

from audit.canonical import SYSTEM
from audit.cli import _fail, open_store, os_user
from audit.errors import AuditError


@click.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="backup file to write (never overwritten)")
@click.option("--since", "since", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a full backup: write a differential backup of everything changed since it")
def backup(out: Path, since: Path | None) -> None:
    """Back up every table (full, or differential with --since)."""
    from audit.backup import take_backup

    settings, db = open_store()
    try:
        info = take_backup(db, settings, out, since=since, actor=SYSTEM, details={"os_user": os_user()})
    except AuditError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    click.echo(f"{info.kind} backup {info.id} written to {info.path}: {info.tables} tables, {info.rows} rows, "
               f"audit head {info.audit_head_seq}")


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(files: tuple[Path, ...]) -> None:
    """Restore a full backup, then its differential backups (oldest first), into an empty database."""
    from audit.backup import restore as run_restore
    from audit.checkpoints import create_checkpoint

    settings, db = open_store()
    try:
        info = run_restore(db, settings, list(files), actor=SYSTEM, details={"os_user": os_user()})
        checkpoint = create_checkpoint(db, settings)
    except AuditError as exc:
        raise _fail(exc) from exc
    finally:
        db.dispose()
    click.echo(f"restored {info.rows} rows; audit trail at {info.audit_head_seq}, restore recorded as entry "
               f"{info.restored_seq}; checkpoint at {checkpoint.seq}")
