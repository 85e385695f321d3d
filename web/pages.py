"""The home page, language choice and static assets."""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from core import clock
from forms.errors import N_
from web.errors import WebError
from web.i18n import LANGUAGES

bp = Blueprint("main", __name__, template_folder="templates")
assets = Blueprint("assets", __name__, static_folder="static", static_url_path="/static")


@assets.get("/favicon.ico")
def favicon():  # type: ignore[no-untyped-def]
    """Browsers ask for /favicon.ico on every site; answered from the static folder."""
    from flask import send_from_directory

    return send_from_directory(assets.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon")


class UnknownLanguage(WebError):
    http_status = 422


STARTER_PROPERTY = "starter.roles"
# a process whose start needs more than a title (a batch order from a recipe) names the page that
# starts it (a web endpoint, e.g. "batches.index"): the home page links there instead of the title form
START_PAGE_PROPERTY = "start.page"


def starter_roles(elements: dict[str, Any], key: str) -> set[str]:
    """Who starts a process: the roles its process element names in `starter.roles`, else the
    roles of the lanes that hold its start events (docs/web.md, "Starting a process")."""
    from engine.properties import split_list

    process = elements.get(key) or {}
    named = split_list((process.get("properties") or {}).get(STARTER_PROPERTY))
    if named:
        return set(named)
    return {e["lane"] for e in elements.values() if e.get("tag") == "startEvent" and e.get("lane")}


def startable(session: Any, roles: Any) -> list[dict[str, Any]]:
    """The approved processes the holder of `roles` may start, with their names in the reader's language."""
    from sqlalchemy import select

    from engine.definition_changes import in_force_version_ids
    from engine.models import ProcessDefinition, ProcessDefinitionVersion
    from web.labels import element_label

    held = set(roles)
    out = []
    rows = session.execute(select(ProcessDefinition.key, ProcessDefinition.name, ProcessDefinitionVersion.id,
                                  ProcessDefinitionVersion.elements_json)
                           .join(ProcessDefinitionVersion, ProcessDefinitionVersion.definition_id == ProcessDefinition.id)
                           .where(ProcessDefinitionVersion.id.in_(in_force_version_ids(session))).order_by(ProcessDefinition.key))
    for key, name, version_id, elements_json in rows:
        elements = json.loads(elements_json)
        if starter_roles(elements, key) & held:
            out.append({"key": key, "name": element_label(session, version_id, key, name),
                        "page": start_page(elements, key)})
    return out


def start_page(elements: dict[str, Any], key: str) -> str | None:
    """The address of the page that starts the process (`start.page`), None for the title form
    (also when the named page is not part of this application)."""
    from flask import url_for
    from werkzeug.routing import BuildError

    endpoint = str(((elements.get(key) or {}).get("properties") or {}).get(START_PAGE_PROPERTY) or "").strip()
    if not endpoint:
        return None
    try:
        return url_for(endpoint)
    except BuildError:
        return None


class StartedElsewhere(WebError):
    http_status = 409


class NotAStarter(WebError):
    http_status = 403


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    user = g.get("user")
    processes: list[dict[str, Any]] = []
    if user is not None and user.kind == "business":
        from web.uow import unit_of_work

        with unit_of_work() as uow:
            processes = startable(uow.session, user.roles)
    return render_template("home.html", processes=processes)


@bp.post("/start/<key>")
def start_process(key: str):  # type: ignore[no-untyped-def]
    """The starter role of a process starts an instance from the home page."""
    from engine.definitions import approved_version
    from engine.instances import start
    from web.operator import ready_task_ids
    from web.uow import settings, unit_of_work

    user = g.user
    title = (request.form.get("title") or "").strip()[:200] or None
    with unit_of_work() as uow:
        approved_version(uow.session, key)  # DefinitionNotFound (404) or DefinitionStateError (409) first
        offered = {p["key"]: p for p in startable(uow.session, user.roles)}
        if key not in offered:
            raise NotAStarter(_("Your roles do not start this process. Its starter roles are named in the process "
                                "(ask QA), or a QA user starts it from the library."))
        if offered[key]["page"]:
            raise StartedElsewhere(_("%(name)s is started on its own page, which asks for what it needs: %(page)s",
                                     name=offered[key]["name"], page=offered[key]["page"]))
        instance = start(uow, key, title=title, settings=settings())
        instance_id = instance.id
        ready = ready_task_ids(uow.session, instance_id)
        uow.commit()
    flash(_("Started: %(title)s (#%(id)s).", title=title or key, id=instance_id), "info")
    if ready:
        return redirect(url_for("tasks.inbox"))
    return redirect(url_for("main.home"))


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
    ("batches.index", N_("Batches")),
    ("plant.index", N_("Plant status")),
    ("documents.index", N_("Documents")),
    ("calibration.board", N_("Instrument status")),
    ("work_permit.board", N_("Active permits")),
    ("quality.index", N_("Quality")),
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
