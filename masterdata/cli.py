"""`gmp master ...`: controlled data of every kind in the catalogue, on the command line.

    gmp master kinds
    gmp master list KIND [--all] [--search TEXT]
    gmp master show KIND KEY [--compare A B]
    gmp master export KIND [--format csv|yaml] [--output FILE]
    gmp master import KIND FILE --reason TEXT [--user ID]     # drafts, one change set
    gmp master pending [KIND]
    gmp master approve SET --reason TEXT [--effective-from DATE] [--user ID]   # signs
    gmp master withdraw CHANGE --reason TEXT [--user ID]

The kinds are those of the command's runtime (`bpmn.glue.install`). Imports become drafts
approved like any other change, by another person holding an approver role.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import click

from core.config import load_settings
from core.errors import GmpError


def _catalogue() -> Any:
    runtime = click.get_current_context().find_root().obj
    catalogue = getattr(runtime, "changes", None)
    if catalogue is None:
        raise click.ClickException("no kinds of master data are installed (the process library is missing)")
    return catalogue


def _kind(name: str) -> Any:
    try:
        return _catalogue().get(name)
    except GmpError as exc:
        raise click.ClickException(str(exc)) from None


def _context() -> tuple[Any, Any]:
    from store.db import Database

    settings = load_settings()
    return settings, Database(settings.database_url)


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@click.group("master")
def master() -> None:
    """Master data under change control: list, show, export, import, approve."""


@master.command("kinds")
def kinds() -> None:
    """The kinds of controlled data."""
    for kind in _catalogue().kinds():
        click.echo(f"{kind.name:20} {kind.label} / {kind.label_zh}")


@master.command("list")
@click.argument("kind_name", metavar="KIND")
@click.option("--all", "everything", is_flag=True, help="also items only drafted or retired")
@click.option("--search", default="", help="only items whose key or shown fields contain this text")
def list_items(kind_name: str, everything: bool, search: str) -> None:
    """The items in force (one line each), or every item with its status."""
    from masterdata import changes

    kind = _kind(kind_name)
    settings, db = _context()
    columns = kind.columns()
    with db.read_session() as session:
        in_force = {r.key: r for r in changes.effective_items(session, kind)}
        keys = changes.items(session, kind) if everything else sorted(in_force)
        drafts = {c.key for c in changes.pending(session, kind.name)}
        click.echo("  ".join(columns) + "  status")
        for key in keys:
            rev = in_force.get(key)
            values = [_text(rev.data.get(c)) if rev else (key if c == kind.key_field else "") for c in columns]
            status = f"r{rev.revision} in force" if rev else "not in force"
            if key in drafts:
                status += ", draft pending"
            line = "  ".join(values) + f"  {status}"
            if search and search.lower() not in line.lower():
                continue
            click.echo(line)


@master.command("show")
@click.argument("kind_name", metavar="KIND")
@click.argument("key")
@click.option("--compare", nargs=2, type=int, metavar="A B", help="field differences between revisions A and B")
def show(kind_name: str, key: str, compare: tuple[int, int] | None) -> None:
    """An item: the revision in force, its history, and optionally a comparison."""
    from masterdata import changes

    kind = _kind(kind_name)
    settings, db = _context()
    with db.read_session() as session:
        history = changes.history(session, kind, key)
        if not history:
            _fail(click.ClickException(f"{kind.label} {key!r} has no revision"))
        in_force = changes.in_force_ids(session, kind.name).get(key)
        current = changes.effective(session, kind, key)
        if compare:
            by_number = {c.revision: c for c in history}
            missing = [n for n in compare if n not in by_number]
            if missing:
                _fail(click.ClickException(f"{kind.label} {key!r} has no revision {missing[0]}"))
            click.echo(f"{kind.label} {key}: revision {compare[0]} -> {compare[1]}")
            for diff in changes.compare(by_number[compare[0]], by_number[compare[1]]):
                click.echo(f"  {diff.field}: {_text(diff.old)} -> {_text(diff.new)}")
            return
    click.echo(f"{kind.label} {key}: " + (f"revision {current.revision} in force" if current else "not in force"))
    if current:
        for name, value in changes.flatten(current.data).items():
            click.echo(f"  {name}: {_text(value)}")
    click.echo("history:")
    for c in history:
        state = c.state_at(in_force_id=in_force)
        approved = f"; approved by {c.approved_by} {c.approved_at} (signature {c.signature_id}), effective from " \
                   f"{c.effective_from}" if c.approved_by else ""
        click.echo(f"  r{c.revision} {c.action} {state}: drafted by {c.drafted_by} {c.drafted_at} ({c.reason})"
                   f"{approved}  [change {c.id}, set {c.change_set_id}]")


@master.command("export")
@click.argument("kind_name", metavar="KIND")
@click.option("--format", "fmt", type=click.Choice(["csv", "yaml"]), default="csv")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="file (default: stdout)")
def export(kind_name: str, fmt: str, output: Path | None) -> None:
    """The items in force, as CSV or YAML (the import format)."""
    from masterdata import changes, transfer

    kind = _kind(kind_name)
    settings, db = _context()
    with db.read_session() as session:
        text = transfer.export(kind, changes.effective_items(session, kind), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{output}: {kind.label} exported")


@master.command("import")
@click.argument("kind_name", metavar="KIND")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="why the data changes (change control)")
@click.option("--user", help="who drafts (authenticated; default: the `gmp login` session)")
def import_items(kind_name: str, path: Path, reason: str, user: str | None) -> None:
    """Draft the items of a CSV or YAML file as one change set; nothing is stored if a row is bad."""
    from masterdata import changes, transfer
    from signatures.cli_session import person_at_terminal
    from store.uow import UnitOfWork

    kind = _kind(kind_name)
    settings, db = _context()
    raw = path.read_bytes()
    try:
        items = transfer.read_items(kind, raw, path.name)
        if not items:
            raise click.ClickException(f"{path.name}: no items")
        with person_at_terminal(db, settings, user) as person:
            with UnitOfWork(db, person.actor) as uow:
                entries, lines, unchanged = transfer.plan_import(uow.session, kind, items)
                if not entries:
                    raise click.ClickException(f"{path.name}: every item is in force as given: nothing to change")
                drafted = changes.draft_set(uow, _catalogue(), kind, entries, reason, source_name=path.name,
                                            source_sha256=hashlib.sha256(raw).hexdigest(), settings=settings,
                                            rows=lines, row_word="line")
                uow.commit()
    except GmpError as exc:
        _fail(exc)
    counts: dict[str, int] = {}
    for c in drafted.changes:
        counts[c.action] = counts.get(c.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
    click.echo(f"change set {drafted.id}: {summary}" + (f", {len(unchanged)} unchanged" if unchanged else "")
               + f"; drafts wait for approval (gmp master approve {drafted.id})")


@master.command("pending")
@click.argument("kind_name", metavar="KIND", required=False)
def pending(kind_name: str | None) -> None:
    """Drafts waiting for approval."""
    from masterdata import changes

    if kind_name:
        _kind(kind_name)
    settings, db = _context()
    with db.read_session() as session:
        for c in changes.pending(session, kind_name):
            click.echo(f"set {c.change_set_id}  change {c.id}  {c.kind} {c.key} r{c.revision} {c.action}  "
                       f"by {c.drafted_by} {c.drafted_at}: {c.reason}")


@master.command("approve")
@click.argument("set_id", type=int, metavar="SET")
@click.option("--reason", default="", help="why it is approved (optional)")
@click.option("--effective-from", default=None, help="a later date (YYYY-MM-DD) it takes effect; default: now")
@click.option("--user", help="the approver (signs with meaning 'approved'; default: the `gmp login` session)")
def approve(set_id: int, reason: str, effective_from: str | None, user: str | None) -> None:
    """Approve every draft of a change set by electronic signature."""
    from masterdata import changes
    from signatures.cli_session import signer_at_terminal
    from store.uow import UnitOfWork

    settings, db = _context()
    try:
        signer = signer_at_terminal(db, settings, user)
        with UnitOfWork(db, signer.actor) as uow:
            done = changes.approve_set(uow, _catalogue(), set_id, credentials=signer.credentials,  # type: ignore
                                       settings=settings, auth_session=signer.session_id, reason=reason or None,
                                       effective_from=effective_from)
            uow.commit()
    except GmpError as exc:
        _fail(exc)
    approved = [c for c in done.changes if c.approved_by]
    when = approved[0].effective_from if approved else ""
    click.echo(f"change set {set_id}: {len(approved)} change(s) approved by {signer.user_id}, effective from {when}")


@master.command("withdraw")
@click.argument("change_id", type=int, metavar="CHANGE")
@click.option("--reason", required=True)
@click.option("--user", help="who withdraws (the drafter or an approver; default: the `gmp login` session)")
def withdraw(change_id: int, reason: str, user: str | None) -> None:
    """Withdraw a draft."""
    from masterdata import changes
    from signatures.cli_session import person_at_terminal
    from store.uow import UnitOfWork

    settings, db = _context()
    try:
        with person_at_terminal(db, settings, user) as person:
            with UnitOfWork(db, person.actor) as uow:
                done = changes.withdraw(uow, change_id, reason, catalogue=_catalogue(), settings=settings)
                uow.commit()
    except GmpError as exc:
        _fail(exc)
    click.echo(f"change {change_id} ({done.kind} {done.key} r{done.revision}) withdrawn")
