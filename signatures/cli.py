"""`gmp admin ...`, `gmp user ...`, `gmp role ...`.

Administrative commands authenticate an administrator first (user ID, password and
TOTP from prompts, or from GMP_ADMIN_USER / GMP_ADMIN_PASSWORD / GMP_ADMIN_TOTP for
scripts). `gmp admin bootstrap` is the one unauthenticated command and works only on a
database without an administrator. `gmp user enrol` and `gmp user accountability` are
run by the account's owner.
"""
from __future__ import annotations

import functools
import os
import sys
from datetime import date
from typing import Any, Callable

import click

from audit.canonical import Actor
from core.errors import GmpError
from store.cli import cli_settings
from store.db import Database
from store.uow import UnitOfWork


def _errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the product's errors into a clear message and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GmpError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


class _Context:
    def __init__(self) -> None:
        self.settings = cli_settings()
        self.db = Database(self.settings.database_url)

    def close(self) -> None:
        self.db.dispose()


def _run(fn: Callable[[_Context], Any]) -> Any:
    context = _Context()
    try:
        return fn(context)
    finally:
        context.close()


def authenticate_admin(ctx: _Context) -> Actor:
    """Prompt for (or read from the environment) an administrator's user ID, password and TOTP."""
    from signatures.credentials import authenticate
    from signatures.errors import NotAuthorised
    from signatures.identities import role_kind_of
    from signatures.models import RoleKind
    from store.schema import require_current

    require_current(ctx.db.url)  # before anyone types a password and a one-time code
    username = os.environ.get("GMP_ADMIN_USER") or click.prompt("Administrator user ID", err=True)
    password = os.environ.get("GMP_ADMIN_PASSWORD") or click.prompt("Password", hide_input=True, err=True)
    code = os.environ.get("GMP_ADMIN_TOTP") or click.prompt("TOTP code", err=True)
    with UnitOfWork(ctx.db) as uow:
        user = authenticate(uow, username, password, code, ctx.settings, action="user.login_refused",
                            details={"client": "cli"})
        actor = Actor(user.user_id, user.printed_name)
        if role_kind_of(uow.session, user.user_id) is not RoleKind.ADMIN:
            uow.record_refusal("user.login_refused", "user", user.user_id, actor=actor,
                               reason="administrative command by a non-administrator", details={"client": "cli"})
            raise NotAuthorised(f"{user.user_id} is not an administrator")
        uow.audit("user.login", "user", user.user_id, actor=actor, details={"client": "cli"})
        uow.commit()
    return actor


def _admin_work(fn: Callable[[UnitOfWork, _Context], Any]) -> Any:
    def work(ctx: _Context) -> Any:
        actor = authenticate_admin(ctx)
        with UnitOfWork(ctx.db, actor) as uow:
            result = fn(uow, ctx)
            uow.commit()
        return result
    return _run(work)


def _show_secret(user_id: str, secret: str, ttl_hours: int) -> None:
    click.echo(f"One-time enrolment secret for {user_id}: {secret}")
    click.echo(f"Hand it to {user_id} in person; it expires in {ttl_hours} hours. "
               f"The owner runs: gmp user enrol {user_id}")


# ---------------------------------------------------------------- gmp admin
@click.group()
def admin() -> None:
    """First administrator."""


@admin.command("bootstrap")
@click.argument("username")
@click.option("--name", required=True, help="printed full name")
@_errors
def admin_bootstrap(username: str, name: str) -> None:
    """Create the first administrator (only on a database without one)."""
    from signatures.identities import bootstrap_admin

    def work(ctx: _Context) -> None:
        with UnitOfWork(ctx.db) as uow:
            _, secret = bootstrap_admin(uow, username, name, ctx.settings)
            uow.commit()
        _show_secret(username, secret, ctx.settings.enrolment_ttl_hours)
    _run(work)


# ---------------------------------------------------------------- gmp role
@click.group()
def role() -> None:
    """The role catalogue."""


@role.command("list")
@_errors
def role_list() -> None:
    """List the roles and their kinds."""
    from signatures.roles import list_roles

    def work(ctx: _Context) -> None:
        with ctx.db.session() as session:
            for r in list_roles(session):
                click.echo(f"{r.name:24} {r.kind:9} {r.label_en} / {r.label_zh}")
    _run(work)


@role.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(["admin", "audit", "business", "system"]), required=True)
@click.option("--label-en", required=True)
@click.option("--label-zh", required=True)
@click.option("--description", default="")
@click.option("--reason", required=True)
@_errors
def role_add(name: str, kind: str, label_en: str, label_zh: str, description: str, reason: str) -> None:
    """Add a role to the catalogue (an audited configuration change)."""
    from signatures.roles import add_role

    _admin_work(lambda uow, ctx: add_role(uow, name, kind, label_en, label_zh, description, reason))
    click.echo(f"role {name} added ({kind})")


# ---------------------------------------------------------------- gmp user
@click.group()
def user() -> None:
    """User accounts, credentials and access."""


@user.command("add")
@click.argument("username")
@click.option("--name", required=True, help="printed full name")
@click.option("--role", "roles", multiple=True, required=True, help="role (repeat for several)")
@click.option("--expires", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="expiry date YYYY-MM-DD")
@click.option("--reason", default=None)
@_errors
def user_add(username: str, name: str, roles: tuple[str, ...], expires: Any, reason: str | None) -> None:
    """Create an account; prints its one-time enrolment secret."""
    from signatures.identities import create_user

    expires_on: date | None = expires.date() if expires else None
    result = {}

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        _, result["secret"] = create_user(uow, username, name, roles, ctx.settings, expires_on=expires_on,
                                          reason=reason)
        result["ttl"] = ctx.settings.enrolment_ttl_hours
    _admin_work(work)
    _show_secret(username, result["secret"], result["ttl"])


@user.command("deactivate")
@click.argument("username")
@click.option("--reason", required=True)
@_errors
def user_deactivate(username: str, reason: str) -> None:
    """Deactivate an account for good (its user ID is never reused)."""
    from signatures.identities import deactivate_user

    _admin_work(lambda uow, ctx: deactivate_user(uow, username, reason))
    click.echo(f"{username} deactivated")


@user.command("unlock")
@click.argument("username")
@click.option("--reason", required=True)
@_errors
def user_unlock(username: str, reason: str) -> None:
    """Unlock an account locked after failed attempts."""
    from signatures.identities import unlock_user

    _admin_work(lambda uow, ctx: unlock_user(uow, username, reason))
    click.echo(f"{username} unlocked")


@user.command("grant")
@click.argument("username")
@click.argument("role_name")
@click.option("--reason", required=True)
@_errors
def user_grant(username: str, role_name: str, reason: str) -> None:
    """Grant a role."""
    from signatures.identities import grant_role

    _admin_work(lambda uow, ctx: grant_role(uow, username, role_name, reason))
    click.echo(f"{username}: role {role_name} granted")


@user.command("revoke")
@click.argument("username")
@click.argument("role_name")
@click.option("--reason", required=True)
@_errors
def user_revoke(username: str, role_name: str, reason: str) -> None:
    """Revoke a role."""
    from signatures.identities import revoke_role

    _admin_work(lambda uow, ctx: revoke_role(uow, username, role_name, reason))
    click.echo(f"{username}: role {role_name} revoked")


@user.command("list")
@_errors
def user_list() -> None:
    """List every account with status, expiry and roles."""
    from signatures.identities import access_snapshot

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        for u in access_snapshot(uow.session):
            verified = "identity verified" if u["identity_verified"] else "identity NOT verified"
            click.echo(f"{u['user_id']:20} {u['status']:18} expires {u['expires_on'] or '-':10}  "
                       f"{','.join(u['roles']):30} {verified}  {u['printed_name']}")
    _admin_work(work)


@user.command("reset-credentials")
@click.argument("username")
@click.option("--reason", required=True)
@_errors
def user_reset(username: str, reason: str) -> None:
    """Revoke password, TOTP device and signing key at once; prints a new enrolment secret."""
    from signatures.credentials import reset_credentials

    result = {}

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        result["secret"] = reset_credentials(uow, username, reason, ctx.settings)
        result["ttl"] = ctx.settings.enrolment_ttl_hours
    _admin_work(work)
    click.echo(f"credentials of {username} revoked")
    _show_secret(username, result["secret"], result["ttl"])


@user.command("verify-identity")
@click.argument("username")
@click.option("--method", required=True, help="how the identity was verified, e.g. 'passport checked in person'")
@click.option("--reason", required=True)
@_errors
def user_verify_identity(username: str, method: str, reason: str) -> None:
    """Record the identity verification of a person (needed before they can sign)."""
    from signatures.identities import verify_identity

    _admin_work(lambda uow, ctx: verify_identity(uow, username, method, reason))
    click.echo(f"identity of {username} verified ({method})")


@user.command("access-review")
@click.option("--comment", required=True, help="findings, or 'no findings'")
@_errors
def user_access_review(comment: str) -> None:
    """Record a periodic access review of every account and its roles."""
    from signatures.identities import record_access_review

    result = {}

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        result["review"] = record_access_review(uow, comment)
    _admin_work(work)
    click.echo(f"access review {result['review'].id} recorded (snapshot {result['review'].snapshot_sha256[:16]})")


@user.command("alerts")
@click.option("--all", "include_all", is_flag=True, help="include acknowledged alerts")
@_errors
def user_alerts(include_all: bool) -> None:
    """List security alerts (locked accounts)."""
    from signatures.lockout import list_alerts

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        for a in list_alerts(uow.session, include_all):
            state = f"acknowledged by {a.acknowledged_by}" if a.acknowledged_at else "open"
            click.echo(f"{a.id:5} {a.created_at.isoformat()} {a.kind:16} {a.user_id:16} {state}: {a.message}")
    _admin_work(work)


@user.command("enrol")
@click.argument("username", required=False)
@click.option("--qr/--no-qr", default=True, help="draw the TOTP QR code in the terminal")
@_errors
def user_enrol(username: str | None, qr: bool) -> None:
    """Set your own password and enrol your TOTP device with your one-time enrolment secret."""
    from signatures.enrolment import enrol, start_enrolment

    def work(ctx: _Context) -> None:
        from store.schema import require_current

        nonlocal username
        require_current(ctx.db.url)  # before the secret is typed
        username = username or click.prompt("Your user ID", err=True)
        secret = click.prompt("Enrolment secret", hide_input=True, err=True)
        with ctx.db.session() as session:
            view = start_enrolment(session, username, secret)
        click.echo(f"Enrolling {view.printed_name} ({view.user_id}).")
        click.echo(f"Add this TOTP secret to your authenticator app: {view.totp_secret}")
        click.echo(f"otpauth URI: {view.provisioning_uri}")
        if qr:
            import segno

            segno.make(view.provisioning_uri, error="m").terminal(out=sys.stdout, compact=True)
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
        code = click.prompt("Code shown by the authenticator app", err=True)
        with UnitOfWork(ctx.db) as uow:
            enrol(uow, username, secret, password, code, ctx.settings)
            uow.commit()
        click.echo(f"{username} enrolled. Before the first signature: identity verification by an administrator "
                   f"and `gmp user accountability {username}`.")
    _run(work)


@user.command("accountability")
@click.argument("username")
@_errors
def user_accountability(username: str) -> None:
    """Sign the statement that your electronic signature is legally binding (before your first signature)."""
    from signatures.accountability import sign_statement, statement_texts
    from signatures.identities import get_user
    from signatures.precheck import signing_credentials

    def work(ctx: _Context) -> None:
        with ctx.db.session() as session:
            person = get_user(session, username)
            english, chinese = statement_texts(person.user_id, person.printed_name)
        click.echo(english)
        click.echo(chinese)
        password = click.prompt("Password", hide_input=True, err=True)
        code = click.prompt("TOTP code", err=True)
        credentials = signing_credentials(ctx.db, username, password, code)  # the key unwrap before the write lock
        with UnitOfWork(ctx.db, Actor(person.user_id, person.printed_name)) as uow:
            sign_statement(uow, credentials, ctx.settings)
            uow.commit()
        click.echo("accountability statement signed")
    _run(work)
