"""`gmp api ...`: system accounts and their API tokens, for administrators.

Every command except the listings authenticates an administrator first (prompts, or
GMP_ADMIN_USER / GMP_ADMIN_PASSWORD / GMP_ADMIN_TOTP), exactly as `gmp user ...` does.
A token is printed once, when it is issued; the server keeps only its SHA-256.
"""
from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Any

import click

from signatures.cli import _admin_work, _Context, _errors, _run
from store.uow import UnitOfWork


@click.group()
def api() -> None:
    """The API for other systems: system accounts and tokens."""


@api.group()
def account() -> None:
    """System accounts (MES, ERP, LIMS): never sign in, never sign."""


@account.command("create")
@click.argument("account_id")
@click.option("--name", required=True, help="printed name, e.g. 'MES line 1'")
@click.option("--role", "roles", multiple=True, help="system role (lane) it may work in; repeatable")
@click.option("--description", default="")
@click.option("--reason", required=True)
@_errors
def account_create(account_id: str, name: str, roles: tuple[str, ...], description: str, reason: str) -> None:
    """Create a system account."""
    from web.api.accounts import actor_id, create_account

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        create_account(uow, account_id, name, roles=roles, description=description, reason=reason)
    _admin_work(work)
    click.echo(f"system account {account_id} created; it acts as {actor_id(account_id)}")


@account.command("list")
@_errors
def account_list() -> None:
    """List system accounts with their roles and tokens."""
    from web.api.accounts import list_accounts, roles_of_account, token_state, tokens_of

    def work(ctx: _Context) -> None:
        with ctx.db.session() as session:
            for row in list_accounts(session):
                roles = ",".join(sorted(roles_of_account(session, row.account_id))) or "-"
                click.echo(f"{row.account_id:24} {row.status:12} roles={roles}  {row.printed_name}")
                for token in tokens_of(session, row.account_id):
                    click.echo(f"    token {token.token_id} {token_state(token):8} expires {token.expires_at[:10]} "
                               f"scopes={token.scopes.replace(' ', ',')} {token.label}")
    _run(work)


def _account_change(verb: str) -> Any:
    @click.argument("account_id")
    @click.argument("role")
    @click.option("--reason", required=True)
    @_errors
    def command(account_id: str, role: str, reason: str) -> None:
        from web.api import accounts

        def work(uow: UnitOfWork, ctx: _Context) -> None:
            getattr(accounts, f"{verb}_role")(uow, account_id, role, reason)
        _admin_work(work)
        click.echo(f"role {role} {verb}ed {'to' if verb == 'grant' else 'from'} {account_id}")
    command.__doc__ = f"{verb.capitalize()} a system role."
    return command


account.command("grant")(_account_change("grant"))
account.command("revoke")(_account_change("revoke"))


@account.command("deactivate")
@click.argument("account_id")
@click.option("--reason", required=True)
@_errors
def account_deactivate(account_id: str, reason: str) -> None:
    """Deactivate a system account for good (every token is revoked)."""
    from web.api.accounts import deactivate_account

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        deactivate_account(uow, account_id, reason)
    _admin_work(work)
    click.echo(f"system account {account_id} deactivated; its tokens are revoked")


@api.group()
def token() -> None:
    """API tokens: scoped, expiring, revocable; shown once."""


@token.command("issue")
@click.argument("account_id")
@click.option("--scope", "scopes", multiple=True, required=True, help="repeatable; see `gmp api token scopes`")
@click.option("--expires", required=True, help="last valid day, YYYY-MM-DD (UTC)")
@click.option("--label", default="", help="what the token is for")
@click.option("--reason", required=True)
@_errors
def token_issue(account_id: str, scopes: tuple[str, ...], expires: str, label: str, reason: str) -> None:
    """Issue a token and print it (once)."""
    from web.api.accounts import issue_token

    try:
        day = datetime.strptime(expires, "%Y-%m-%d").date()
    except ValueError as exc:
        raise click.BadParameter("expected a date such as 2027-12-31", param_hint="--expires") from exc

    def work(uow: UnitOfWork, ctx: _Context) -> Any:
        return issue_token(uow, account_id, scopes, datetime.combine(day, time(23, 59, 59), tzinfo=timezone.utc),
                           label=label, reason=reason)
    row, text = _admin_work(work)
    click.echo(f"token {row.token_id} for {account_id}, scopes {row.scopes}, expires {row.expires_at}")
    click.echo("Store it in the other system now; it is not shown again:")
    click.echo(text)


@token.command("revoke")
@click.argument("token_id")
@click.option("--reason", required=True)
@_errors
def token_revoke(token_id: str, reason: str) -> None:
    """Revoke a token at once."""
    from web.api.accounts import revoke_token

    def work(uow: UnitOfWork, ctx: _Context) -> None:
        revoke_token(uow, token_id, reason)
    _admin_work(work)
    click.echo(f"token {token_id} revoked")


@token.command("scopes")
def token_scopes() -> None:
    """List the scopes a token may carry."""
    from web.api.accounts import SCOPES

    for name, text in SCOPES.items():
        click.echo(f"{name:22} {text}")
