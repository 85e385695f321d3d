"""The home page, language choice and static assets."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from core import clock
from forms.errors import N_
from web.errors import WebError
from web.i18n import LANGUAGES

bp = Blueprint("main", __name__, template_folder="templates")
assets = Blueprint("assets", __name__, static_folder="static", static_url_path="/static")


class UnknownLanguage(WebError):
    http_status = 422


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    return render_template("home.html")


@bp.post("/language")
def set_language():  # type: ignore[no-untyped-def]
    language = request.form.get("language", "")
    if language not in LANGUAGES:
        raise UnknownLanguage(_("Unknown language %(code)s.", code=language))
    session["lang"] = language
    user = g.get("user")
    if user is not None:
        from web.models import UserPreference
        from web.uow import unit_of_work

        with unit_of_work() as uow:
            row = uow.session.get(UserPreference, user.user_id)
            if row is None:
                uow.session.add(UserPreference(user_id=user.user_id, language=language,
                                               updated_at=clock.isoformat(clock.now())))
            else:
                row.language = language
                row.updated_at = clock.isoformat(clock.now())
            uow.commit()
    from web.security import safe_next

    return redirect(safe_next(request.form.get("next")) or url_for("main.home"))


# Navigation: shown only when the blueprint is registered and the matrix allows the user.
NAV = [
    ("main.home", N_("Home")),
    ("tasks.inbox", N_("My tasks")),
    ("records.index", N_("Records")),
    ("plant.index", N_("Plant status")),
    ("library.index", N_("Process library")),
    ("audit_ui.trail", N_("Audit trail")),
    ("admin.users", N_("Users")),
    ("admin.roles", N_("Roles")),
    ("admin.alerts", N_("Security alerts")),
    ("api_admin.accounts", N_("System accounts")),
    ("equipment.revisions", N_("Equipment tags")),
    ("master.index", N_("Master data")),
    ("validation.index", N_("Validation")),
    ("reports.index", N_("Periodic evaluation")),
    ("notifications.index", N_("Notifications")),
]


def nav_items() -> list[tuple[str, str, bool]]:
    from flask import current_app

    from web.access import load_matrix

    user = g.get("user")
    if user is None:
        return []
    matrix = load_matrix()
    endpoints = {rule.endpoint for rule in current_app.url_map.iter_rules()}
    items = []
    for endpoint, label in NAV:
        rule = matrix.get(endpoint)
        if endpoint in endpoints and rule is not None and rule.allows(user.roles, user.kind):
            items.append((url_for(endpoint), _(label), request.endpoint == endpoint))
    return items


def has_endpoint(endpoint: str) -> bool:
    from flask import current_app

    return endpoint in current_app.view_functions


@bp.app_context_processor
def layout_helpers():  # type: ignore[no-untyped-def]
    return {"nav_items": nav_items, "has_endpoint": has_endpoint}
