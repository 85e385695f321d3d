"""Administration of system accounts and their API tokens (web, for administrators).

An administrator creates a system account, grants or revokes its system roles (the lanes
meant for systems), issues tokens (scopes, expiry; the token is shown once, here) and
revokes them, or deactivates the account (every token revoked at once). Auditors may
look. Each action goes through web.api.accounts, which checks the administrator again and
audits the change.
"""
from __future__ import annotations

from datetime import datetime, time, timezone

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web.api.errors import AccountError
from web.errors import WebError
from web.uow import unit_of_work

bp = Blueprint("api_admin", __name__, url_prefix="/admin/system-accounts")


class UnknownAction(WebError):
    http_status = 404


def _field(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.get("/")
def accounts():  # type: ignore[no-untyped-def]
    from signatures.models import RoleKind
    from signatures.roles import list_roles
    from web.api.accounts import SCOPES, list_accounts, roles_of_account, token_state, tokens_of

    with unit_of_work() as uow:
        rows = [{"account": a, "roles": sorted(roles_of_account(uow.session, a.account_id)),
                 "tokens": [(t, token_state(t)) for t in tokens_of(uow.session, a.account_id)]}
                for a in list_accounts(uow.session)]
        system_roles = [r for r in list_roles(uow.session) if r.kind == RoleKind.SYSTEM.value]
        return render_template("admin/system_accounts.html", rows=rows, system_roles=system_roles, scopes=SCOPES)


@bp.post("/")
def create_account():  # type: ignore[no-untyped-def]
    from web.api.accounts import create_account as create

    with unit_of_work() as uow:
        row = create(uow, _field("account_id"), _field("printed_name"), roles=request.form.getlist("roles"),
                     description=_field("description"), reason=_field("reason"))
        name = row.account_id
        uow.commit()
    flash(_("System account %(account)s created.", account=name), "info")
    return redirect(url_for("api_admin.accounts"))


@bp.post("/<account_id>/<action>")
def account_action(account_id: str, action: str):  # type: ignore[no-untyped-def]
    from web.api import accounts as service

    with unit_of_work() as uow:
        if action == "grant":
            service.grant_role(uow, account_id, _field("role"), _field("reason"))
        elif action == "revoke":
            service.revoke_role(uow, account_id, _field("role"), _field("reason"))
        elif action == "deactivate":
            service.deactivate_account(uow, account_id, _field("reason"))
        else:
            raise UnknownAction(_("Unknown action %(action)s.", action=action))
        uow.commit()
    flash(_("Done: %(action)s for %(account)s.", action=action, account=account_id), "info")
    return redirect(url_for("api_admin.accounts"))


def _expiry(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise AccountError(_("The expiry date must be a date such as 2027-12-31."), "expires_on") from exc
    return datetime.combine(day, time(23, 59, 59), tzinfo=timezone.utc)


@bp.post("/<account_id>/tokens")
def issue_token(account_id: str):  # type: ignore[no-untyped-def]
    from web.api.accounts import issue_token as issue

    with unit_of_work() as uow:
        row, token = issue(uow, account_id, request.form.getlist("scopes"), _expiry(_field("expires_on")),
                           label=_field("label"), reason=_field("reason"))
        details = {"token_id": row.token_id, "scopes": row.scopes.split(), "expires_at": row.expires_at}
        uow.commit()
    return render_template("admin/system_account_token.html", account_id=account_id, token=token, **details)


@bp.post("/tokens/<token_id>/revoke")
def revoke_token(token_id: str):  # type: ignore[no-untyped-def]
    from web.api.accounts import revoke_token as revoke

    with unit_of_work() as uow:
        revoke(uow, token_id, _field("reason"))
        uow.commit()
    flash(_("Token %(token)s revoked.", token=token_id), "info")
    return redirect(url_for("api_admin.accounts"))
