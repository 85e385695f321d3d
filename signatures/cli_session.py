"""The command line's continuous session: `gmp login`, `gmp logout`, `gmp whoami`.

`gmp login` authenticates with user ID, password and TOTP code (as the web's sign-in does)
and opens a server-side session (`signatures.sessions`, the same kind of row as a browser
session, client "cli"). Its id is kept in a file only the operating-system user can read:
`$XDG_STATE_HOME/gmp/cli-session-<instance key>.json` (default `~/.local/state/gmp/`), one
per instance and database. Every later command that needs a person uses that session
instead of asking again, marks activity, and the session ends like the web's: after
GMP_SESSION_TIMEOUT_MINUTES without a command, at `gmp logout`, or when the account is
locked or deactivated. Signing keeps the continuous-session rules of Part 11: the first
signature in a session needs password and TOTP code, later ones the password
(`signatures.service.sign` decides).

Without a live CLI session, commands ask for password and TOTP code as before (or read
GMP_USER / GMP_PASSWORD / GMP_TOTP), open a session for that one command and end it
afterwards.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import click

from audit.canonical import Actor
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork


@dataclass(frozen=True)
class Person:
    """Who is at the terminal, and the server-side session their command runs in."""

    actor: Actor
    session_id: str
    from_login: bool  # a `gmp login` session (kept), not one opened for this command (ended after it)
    signed_in_session: bool = False  # has signed with every component in this session

    @property
    def user_id(self) -> str:
        return self.actor.user_id


def session_path(settings: Settings) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "gmp"
    key = hashlib.sha256(f"{settings.instance.resolve()}\0{settings.database_url}".encode()).hexdigest()[:16]
    return base / f"cli-session-{key}.json"


def _save(settings: Settings, session_id: str, user_id: str) -> Path:
    path = session_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"session": session_id, "user_id": user_id}, handle)
    tmp.replace(path)
    return path


def _load(settings: Settings) -> dict[str, str] | None:
    path = session_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("session"), str) else None


def _forget(settings: Settings) -> None:
    session_path(settings).unlink(missing_ok=True)


def live_session(db: Database, settings: Settings, *, touch: bool = True) -> Person | None:
    """The `gmp login` session if it is still open (marking activity), else None (an ended one is forgotten)."""
    from signatures.accounts import get_user
    from signatures.errors import SessionError
    from signatures.sessions import get_active_session
    from signatures.sessions import touch as mark_activity

    saved = _load(settings)
    if saved is None:
        return None
    with UnitOfWork(db) as uow:
        try:
            row = get_active_session(uow.session, saved["session"], settings)
        except SessionError as exc:
            _forget(settings)
            click.echo(f"your command-line session is over ({exc})", err=True)
            return None
        user = get_user(uow.session, row.user_id)
        if touch:
            mark_activity(uow.session, row)
        person = Person(Actor(user.user_id, user.printed_name), row.id, True, bool(row.signed_in_session))
        uow.commit()
    return person


def _ask(db: Database, user_id: str | None) -> tuple[str, str, str]:
    """User ID, password and TOTP code from the environment or typed in: only once the database is known to be
    usable (nobody types a password and a one-time code to learn that it is not migrated)."""
    from store.schema import require_current

    require_current(db.url)
    user = user_id or os.environ.get("GMP_USER") or click.prompt("User ID", err=True)
    password = os.environ.get("GMP_PASSWORD") or click.prompt("Password", hide_input=True, err=True)
    code = os.environ.get("GMP_TOTP") or click.prompt("TOTP code", err=True)
    return user, password, code


def open_session(db: Database, settings: Settings, user_id: str | None, client: str) -> Person:
    """Sign in (user ID, password, TOTP; every attempt audited) and open a server-side session."""
    from signatures.accounts import get_user
    from signatures.credentials import login

    user, password, code = _ask(db, user_id)
    with UnitOfWork(db) as uow:
        row = login(uow, user, password, code, settings, client=client)
        person = Person(Actor(row.user_id, get_user(uow.session, row.user_id).printed_name), row.id, False)
        uow.commit()
    return person


def end_session(db: Database, session_id: str) -> None:
    """End a session (audited `user.logout` by its user)."""
    from signatures.accounts import get_user
    from signatures.models import AuthSession
    from signatures.sessions import logout

    with UnitOfWork(db) as uow:
        row = uow.session.get(AuthSession, session_id)
        if row is not None:
            uow.actor = Actor(row.user_id, get_user(uow.session, row.user_id).printed_name)
            logout(uow, row)
            uow.commit()


@contextmanager
def person_at_terminal(db: Database, settings: Settings, user_id: str | None = None) -> Iterator[Person]:
    """The person a command acts for: the `gmp login` session, or a session opened (and ended) for it.

    With a live session, `user_id` (--user) must be its user or absent."""
    person = live_session(db, settings)
    if person is not None:
        if user_id and user_id != person.user_id:
            raise click.ClickException(f"you are logged in as {person.user_id}, not {user_id}: leave out --user, "
                                       "or `gmp logout` first")
        yield person
        return
    person = open_session(db, settings, user_id, client="cli")
    try:
        yield person
    finally:
        end_session(db, person.session_id)


@dataclass(frozen=True)
class Signer:
    """Who signs at the terminal, the session the signature is made in (None: no session, all components),
    and the components given."""

    actor: Actor
    session_id: str | None
    credentials: object  # signatures.credentials.Credentials

    @property
    def user_id(self) -> str:
        return self.actor.user_id


def signer_at_terminal(db: Database, settings: Settings, user_id: str | None = None) -> Signer:
    """The components a signature needs now, asked once. In a `gmp login` session: the password, and the
    TOTP code only until the signer has signed with every component in it (the web's continuous-session
    rule). Without one: user ID, password and TOTP code, signed without a session (no login first, so the
    one TOTP code is not spent twice)."""
    from signatures.accounts import get_user
    from signatures.credentials import Credentials
    from signatures.precheck import precheck_signing

    person = live_session(db, settings)
    if person is not None:
        if user_id and user_id != person.user_id:
            raise click.ClickException(f"you are logged in as {person.user_id}, not {user_id}: leave out --user, "
                                       "or `gmp logout` first")
        password = os.environ.get("GMP_PASSWORD") or click.prompt(f"Password of {person.user_id} (signing)",
                                                                  hide_input=True, err=True)
        code = None if person.signed_in_session else (os.environ.get("GMP_TOTP") or click.prompt("TOTP code",
                                                                                                  err=True))
        # the key unwrap (the slow, deliberate password cost) before any write transaction opens
        return Signer(person.actor, person.session_id,
                      precheck_signing(db, Credentials(person.user_id, password, code)))
    user, password, code = _ask(db, user_id)
    with db.session() as session:
        account = get_user(session, user)
        actor = Actor(account.user_id, account.printed_name)
    return Signer(actor, None, precheck_signing(db, Credentials(user, password, code)))


# ---------------------------------------------------------------- commands
def _store() -> tuple[Settings, Database]:
    from store.cli import cli_settings

    settings = cli_settings()
    return settings, Database(settings.database_url)


@click.command("login")
@click.option("--user", "user_id", help="your user ID (asked if not given)")
def login_command(user_id: str | None) -> None:
    """Open a command-line session: later commands run as you without asking again, until
    GMP_SESSION_TIMEOUT_MINUTES pass without a command or you `gmp logout`."""
    settings, db = _store()
    try:
        previous = live_session(db, settings, touch=False)
        if previous is not None:
            end_session(db, previous.session_id)
        person = open_session(db, settings, user_id, client="cli session")
        path = _save(settings, person.session_id, person.user_id)
    finally:
        db.dispose()
    click.echo(f"logged in as {person.actor.printed_name} ({person.user_id}); the session ends after "
               f"{settings.session_timeout_minutes} minutes without a command, or with `gmp logout` "
               f"(session file {path})")


@click.command("logout")
def logout_command() -> None:
    """End the command-line session."""
    settings, db = _store()
    try:
        person = live_session(db, settings, touch=False)
        if person is not None:
            end_session(db, person.session_id)
    finally:
        _forget(settings)
        db.dispose()
    click.echo(f"logged out ({person.user_id})" if person is not None else "no command-line session was open")


@click.command("whoami")
def whoami_command() -> None:
    """Who the command-line session belongs to, and when it ends without activity."""
    from signatures.models import AuthSession
    from signatures.sessions import expires_at

    settings, db = _store()
    try:
        person = live_session(db, settings, touch=False)
        if person is None:
            raise click.ClickException("no command-line session: `gmp login`")
        with db.session() as session:
            row = session.get(AuthSession, person.session_id)
            ends = expires_at(row, settings) if row is not None else None
    finally:
        db.dispose()
    click.echo(f"{person.actor.printed_name} ({person.user_id}); session ends at {ends:%Y-%m-%d %H:%M:%S} UTC "
               "without activity")
