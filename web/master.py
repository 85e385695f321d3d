"""Master data pages, generic over every kind of the runtime's change catalogue.

/master/                         the kinds, with items in force and drafts waiting
/master/<kind>                   items: filter by text and status, paged
/master/<kind>/<key>             the revision in force, the full history, compare two revisions,
                                 approve (signature) or withdraw a draft
/master/<kind>/edit[/<key>]      draft a new item or a change (with a reason), or retire it
Who may draft and approve comes from the change-control role rules (masterdata.change_rules);
the access matrix only lets business users reach the forms. Views over masterdata.changes.
"""
from __future__ import annotations

import json
from typing import Any

import yaml
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from web.i18n import current_language
from web.uow import settings, unit_of_work

bp = Blueprint("master", __name__, url_prefix="/master")
PER_PAGE = 50
STATUSES = ("in_force", "draft", "retired", "all")


def _catalogue() -> Any:
    from engine.runtime import current_runtime

    return current_runtime().changes


def _kind(name: str) -> Any:
    from masterdata.errors import UnknownKind

    try:
        return _catalogue().get(name)
    except UnknownKind:
        abort(404)


def kind_label(kind: Any) -> str:
    return kind.label_zh if current_language() == "zh" else kind.label


def field_title(kind: Any, name: str) -> str:
    """A field's title in the user's language (schema `title`, `x-gmp-i18n.zh.title`)."""
    schema: Any = kind.schema
    titles = []
    for part in name.split("."):
        if part.isdigit():  # a list item: numbered from 1
            schema = schema.get("items") or {}
            titles.append(part)
            continue
        schema = (schema.get("properties") or {}).get(part) or {}
        zh = ((schema.get("x-gmp-i18n") or {}).get("zh") or {}).get("title")
        titles.append(str(zh) if zh and current_language() == "zh" else
                      str(schema.get("title") or part.replace("_", " ")))
    return " › ".join(titles)


def _roles() -> set[str]:
    user = g.get("user")
    return set(user.roles) if user is not None and user.kind == "business" else set()


def _may(kind: Any) -> tuple[bool, bool]:
    """(may draft, may approve) for the signed-in user, by the role rules."""
    from masterdata.change_rules import load_change_rules

    rules = load_change_rules(settings())
    roles = _roles()
    return bool(roles & set(rules.drafters(kind))), bool(roles & set(rules.approvers(kind)))


def display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@bp.app_template_global()
def master_helpers() -> dict[str, Any]:
    return {"kind_label": kind_label, "field_title": field_title, "display": display}


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    from masterdata import changes

    rows = []
    with unit_of_work() as uow:
        drafts: dict[str, int] = {}
        for c in changes.pending(uow.session):
            drafts[c.kind] = drafts.get(c.kind, 0) + 1
        for kind in _catalogue().kinds():
            rows.append({"kind": kind, "in_force": len(changes.effective_items(uow.session, kind)),
                         "drafts": drafts.get(kind.name, 0)})
    return render_template("master/index.html", rows=rows)


@bp.get("/<kind_name>")
def items(kind_name: str):  # type: ignore[no-untyped-def]
    from masterdata import changes

    kind = _kind(kind_name)
    q = (request.args.get("q") or "").strip()
    status = request.args.get("status") or "in_force"
    if status not in STATUSES:
        status = "in_force"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with unit_of_work() as uow:
        in_force = {r.key: r for r in changes.effective_items(uow.session, kind)}
        drafts = {c.key: c for c in changes.pending(uow.session, kind.name)}
        keys = changes.items(uow.session, kind)
    listed = []
    for key in keys:
        rev, draft = in_force.get(key), drafts.get(key)
        if status == "in_force" and rev is None or status == "draft" and draft is None \
                or status == "retired" and (rev is not None or draft is not None):
            continue
        data = rev.data if rev else (draft.data if draft else {kind.key_field: key})
        if q and q.lower() not in " ".join([key, *(display(data.get(c)) for c in kind.columns())]).lower():
            continue
        listed.append({"key": key, "data": data, "revision": rev.revision if rev else None, "draft": draft})
    total = len(listed)
    shown = listed[(page - 1) * PER_PAGE: page * PER_PAGE]
    may_draft, _approve = _may(kind)
    return render_template("master/items.html", kind=kind, rows=shown, q=q, status=status, page=page,
                           pages=max((total + PER_PAGE - 1) // PER_PAGE, 1), total=total, may_draft=may_draft,
                           statuses=STATUSES)


@bp.get("/<kind_name>/<path:key>")
def item(kind_name: str, key: str):  # type: ignore[no-untyped-def]
    from masterdata import changes
    from signatures.service import signatures_for
    from web.signing import manifestation_html

    kind = _kind(kind_name)
    with unit_of_work() as uow:
        history = changes.history(uow.session, kind, key)
        if not history:
            abort(404)
        current = changes.effective(uow.session, kind, key)
        in_force_id = changes.in_force_ids(uow.session, kind.name).get(key)
        by_number = {c.revision: c for c in history}
        a, b = request.args.get("a", type=int), request.args.get("b", type=int)
        diff = None
        if a in by_number and b in by_number:
            diff = changes.compare(by_number[a], by_number[b])
        manifests = {c.id: manifestation_html(signatures_for(uow.session, kind.record_type, f"{kind.name}/{key}/r"
                                                             f"{c.revision}")) for c in history if c.signature_id}
    draft = next((c for c in history if c.status == "draft"), None)
    base = by_number.get(draft.revision - 1) if draft else None
    draft_diff = changes.compare(base if base and base.action != "retire" else None, draft) if draft else None
    may_draft, may_approve = _may(kind)
    user_id = g.user.user_id if g.get("user") else None
    return render_template("master/item.html", kind=kind, key=key, history=list(reversed(history)), current=current,
                           in_force_id=in_force_id, diff=diff, a=a, b=b, draft=draft, draft_diff=draft_diff,
                           fields=changes.flatten(current.data) if current else {}, manifests=manifests,
                           may_draft=may_draft and not kind_managed(kind),
                           may_approve=may_approve and draft is not None and draft.drafted_by != user_id,
                           may_withdraw=draft is not None and (draft.drafted_by == user_id or may_approve),
                           today=_today())


def _today() -> str:
    from core import clock

    return clock.now().date().isoformat()


def kind_managed(kind: Any) -> bool:
    return bool(getattr(kind, "managed_by", ""))


# ---------------------------------------------------------------- drafting
def _form_fields(kind: Any, data: dict[str, Any]) -> list[dict[str, Any]]:
    """One input per field: scalars as text/number/choice, nested data as YAML text."""
    out = []
    required = set(kind.schema.get("required") or [])
    for name, schema in (kind.schema.get("properties") or {}).items():
        types = [schema["type"]] if isinstance(schema.get("type"), str) else list(schema.get("type") or [])
        value = data.get(name)
        if "object" in types or "array" in types:
            widget = "yaml"
            text = "" if value is None else yaml.safe_dump(value, allow_unicode=True, sort_keys=False).strip()
        elif schema.get("enum"):
            widget, text = "choice", "" if value is None else str(value)
        elif "boolean" in types:
            widget, text = "boolean", "" if value is None else ("true" if value else "false")
        else:
            widget = "number" if ("number" in types or "integer" in types) else "text"
            text = "" if value is None else str(value)
        out.append({"name": name, "widget": widget, "text": text, "required": name in required,
                    "choices": schema.get("enum") or [], "description": schema.get("description") or "",
                    "key": name == kind.key_field})
    return out


def _parse_form(kind: Any, form: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    data: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name, schema in (kind.schema.get("properties") or {}).items():
        types = [schema["type"]] if isinstance(schema.get("type"), str) else list(schema.get("type") or [])
        text = (form.get(f"f_{name}") or "").strip()
        if text == "":
            continue
        try:
            if "object" in types or "array" in types:
                data[name] = yaml.safe_load(text)
            elif "boolean" in types:
                data[name] = text == "true"
            elif "integer" in types and "number" not in types:
                data[name] = int(text)
            elif "number" in types:
                number = float(text)
                data[name] = int(number) if number.is_integer() and "." not in text else number
            else:
                data[name] = text
        except (ValueError, yaml.YAMLError):
            errors.append((name, _("not a valid value")))
    return data, errors


@bp.route("/<kind_name>/edit", methods=["GET", "POST"], defaults={"key": None})
@bp.route("/<kind_name>/edit/<path:key>", methods=["GET", "POST"])
def edit(kind_name: str, key: str | None):  # type: ignore[no-untyped-def]
    from masterdata import changes
    from masterdata.errors import ChangeError, ChangeInvalid

    kind = _kind(kind_name)
    if kind_managed(kind):
        flash(_("%(kind)s change through %(where)s.", kind=kind_label(kind), where=kind.managed_by), "info")
        return redirect(url_for("master.items", kind_name=kind.name))
    message, errors, status = None, [], 200
    with unit_of_work() as uow:
        current = changes.effective(uow.session, kind, key) if key else None
    if key and current is None:
        abort(404)
    data: dict[str, Any] = dict(current.data) if current else {}
    reason = ""
    if request.method == "POST":
        action = request.form.get("action") or ("change" if key else "create")
        reason = request.form.get("reason") or ""
        parsed, errors = _parse_form(kind, request.form)
        data = parsed if action != "retire" else data
        target = key or str(parsed.get(kind.key_field) or "").strip()
        if not errors:
            try:
                with unit_of_work() as uow:
                    done = changes.draft(uow, _catalogue(), kind, target, None if action == "retire" else parsed,
                                         reason, action=action, settings=settings())
                    uow.commit()
                flash(_("Draft revision %(n)s of %(key)s saved; another person approves it.", n=done.revision,
                        key=done.key), "info")
                return redirect(url_for("master.item", kind_name=kind.name, key=done.key))
            except ChangeInvalid as exc:
                message, errors, status = str(exc), exc.errors, 422
            except ChangeError as exc:
                message, status = str(exc), exc.http_status
        else:
            message, status = _("Some values are not valid."), 422
    return render_template("master/edit.html", kind=kind, key=key, fields=_form_fields(kind, data), reason=reason,
                           message=message, errors=dict(errors), current=current), status


@bp.post("/changes/<int:change_id>/approve")
def approve(change_id: int):  # type: ignore[no-untyped-def]
    from masterdata import changes
    from signatures.credentials import Credentials

    credentials = Credentials(g.user.user_id, request.form.get("sig_password") or "",
                              (request.form.get("sig_totp") or "").strip() or None)
    with unit_of_work() as uow:
        done = changes.approve(uow, _catalogue(), change_id, credentials=credentials, settings=settings(),
                               reason=(request.form.get("reason") or "").strip() or None,
                               effective_from=(request.form.get("effective_from") or "").strip() or None,
                               auth_session=g.user.session_id)
        uow.commit()
    flash(_("Revision %(n)s of %(key)s approved.", n=done.revision, key=done.key), "info")
    return redirect(url_for("master.item", kind_name=done.kind, key=done.key))


@bp.post("/changes/<int:change_id>/withdraw")
def withdraw(change_id: int):  # type: ignore[no-untyped-def]
    from masterdata import changes

    with unit_of_work() as uow:
        done = changes.withdraw(uow, change_id, request.form.get("reason") or "", catalogue=_catalogue(),
                                settings=settings())
        uow.commit()
    flash(_("Draft revision %(n)s of %(key)s withdrawn.", n=done.revision, key=done.key), "info")
    return redirect(url_for("master.item", kind_name=done.kind, key=done.key))
