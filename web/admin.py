"""Administration: users, roles, enrolment secrets, unlock, deactivate, credential reset,
identity verification, security alerts. Thin views over signatures.identities / lockout;
each service checks again that the actor is an administrator and audits the change.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web.errors import WebError
from web.uow import settings, unit_of_work

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _field(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.get("/users")
def users():  # type: ignore[no-untyped-def]
    from signatures.identities import list_users, roles_of
    from signatures.roles import list_roles

    with unit_of_work() as uow:
        rows = [(u, sorted(roles_of(uow.session, u.user_id))) for u in list_users(uow.session)]
        return render_template("admin/users.html", rows=rows, roles=list_roles(uow.session))


@bp.post("/users")
def create_user():  # type: ignore[no-untyped-def]
    from signatures.identities import create_user as create

    roles = [r for r in request.form.getlist("roles") if r]
    with unit_of_work() as uow:
        user, secret = create(uow, _field("user_id"), _field("printed_name"), roles, settings(),
                              reason=_field("reason") or None)
        user_id = user.user_id
        _roles_granted(uow, user_id, roles, "new_user")
        uow.commit()
    return _show_secret(user_id, secret)


def _roles_granted(uow, user_id: str, roles: list[str], event: str) -> None:  # type: ignore[no-untyped-def]
    """The runtime's role hooks (e.g. the training the new roles require), in the granting unit of work."""
    from engine.runtime import current_runtime

    started = current_runtime().roles_granted(uow, user_id, roles, event, settings())
    if started.get("training"):
        flash(_("Training started for %(user)s (instance %(id)s).", user=user_id, id=started["training"]), "info")


def _show_secret(user_id: str, secret: str):  # type: ignore[no-untyped-def]
    return render_template("admin/secret.html", user_id=user_id, secret=secret)


@bp.post("/users/<user_id>/<action>")
def user_action(user_id: str, action: str):  # type: ignore[no-untyped-def]
    from signatures import identities
    from signatures.credentials import reset_credentials

    reason = _field("reason")
    with unit_of_work() as uow:
        if action == "unlock":
            identities.unlock_user(uow, user_id, reason)
        elif action == "deactivate":
            identities.deactivate_user(uow, user_id, reason)
        elif action == "verify-identity":
            identities.verify_identity(uow, user_id, _field("method"), reason)
        elif action == "grant":
            identities.grant_role(uow, user_id, _field("role"), reason)
            _roles_granted(uow, user_id, [_field("role")], "role_granted")
        elif action == "revoke":
            identities.revoke_role(uow, user_id, _field("role"), reason)
        elif action == "expiry":
            identities.set_expiry(uow, user_id, _date(_field("expires_on")), reason)
        elif action == "reset":
            secret = reset_credentials(uow, user_id, reason, settings())
            uow.commit()
            return _show_secret(user_id, secret)
        else:
            raise UnknownAction(_("Unknown action %(action)s.", action=action))
        uow.commit()
    flash(_("Done: %(action)s for %(user)s.", action=action, user=user_id), "info")
    return redirect(url_for("admin.users"))


class UnknownAction(WebError):
    http_status = 404


class BadDate(WebError):
    http_status = 422


def _date(text: str):  # type: ignore[no-untyped-def]
    """An account expiry date (YYYY-MM-DD), or none for no expiry."""
    from datetime import date

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise BadDate(_("The expiry date must be a date such as 2027-12-31.")) from exc


@bp.get("/roles")
def roles():  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from signatures.models import AccessReview
    from signatures.roles import list_roles

    with unit_of_work() as uow:
        reviews = uow.session.execute(select(AccessReview).order_by(AccessReview.id.desc()).limit(20)).scalars().all()
        return render_template("admin/roles.html", roles=list_roles(uow.session), reviews=reviews)


@bp.post("/roles")
def add_role():  # type: ignore[no-untyped-def]
    from signatures.roles import add_role as add

    with unit_of_work() as uow:
        role = add(uow, _field("name"), _field("kind"), _field("label_en"), _field("label_zh"),
                   _field("description"), _field("reason"))
        name = role.name
        uow.commit()
    flash(_("Role %(role)s added to the catalogue.", role=name), "info")
    return redirect(url_for("admin.roles"))


@bp.post("/access-reviews")
def access_review():  # type: ignore[no-untyped-def]
    from signatures.identities import record_access_review

    with unit_of_work() as uow:
        record_access_review(uow, _field("comment"))
        uow.commit()
    flash(_("Access review recorded."), "info")
    return redirect(url_for("admin.roles"))


@bp.get("/alerts")
def alerts():  # type: ignore[no-untyped-def]
    from signatures.lockout import list_alerts

    with unit_of_work() as uow:
        rows = list_alerts(uow.session, include_acknowledged=bool(request.args.get("all")))
        return render_template("admin/alerts.html", rows=rows)


@bp.post("/alerts/<int:alert_id>/acknowledge")
def acknowledge(alert_id: int):  # type: ignore[no-untyped-def]
    from signatures.lockout import acknowledge_alert

    with unit_of_work() as uow:
        acknowledge_alert(uow, alert_id, _field("reason"))
        uow.commit()
    flash(_("Alert acknowledged."), "info")
    return redirect(url_for("admin.alerts"))
