"""Corrections of submitted task values (CN-4, A11-8): the original stays readable; a correction
needs a reason and the corrector's signature with meaning "corrected" on the next version of
the task record (signatures.service.sign_correction); printouts flag data changed since first entry.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from core import clock
from core.errors import GmpError, NotFound
from web.uow import settings, unit_of_work

bp = Blueprint("corrections", __name__, url_prefix="/records")


def task_data(row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(task data with exact decimals and dates restored, the engine's gmp note) of a stored task row."""
    from engine.spiff.serializer import registry

    body = json.loads(row.body) if row is not None else {}
    return registry().restore(body.get("data") or {}), (body.get("internal_data") or {}).get("gmp") or {}


def task_document(session: Any, task_id: str, schema: Any = None,
                  ui_schema: Any = None) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """(first-entry record as the engine signed it, provenance fields by path, stored corrections)."""
    from engine.models import InstanceTask
    from engine.tasks import task_record
    from web.models import FormCorrection

    row = session.get(InstanceTask, task_id)
    data, gmp = task_data(row)
    if row is None or not gmp:
        raise NotFound(f"no completed task {task_id}")
    provenance = data.get("_form") or {}
    fields = provenance.get("fields") or {}
    if schema is not None:
        from forms import load_definition

        names = [spec.name for spec in load_definition(schema, ui_schema).fields]
    else:
        names = list(fields)
    cleaned = {name: data[name] for name in names if name in data}
    cleaned["_form"] = provenance
    authorised = {k: v for k, v in (gmp.get("authorises") or {}).items() if k != "action"}  # a signed action
    first = task_record(row.instance_id, row.id, row.bpmn_id or row.spec_name, cleaned, authorised or None)
    stored = list(session.execute(select(FormCorrection).where(FormCorrection.task_id == task_id)
                                  .order_by(FormCorrection.record_version)).scalars())
    return first, fields, stored


def current_values(fields: dict[str, Any], stored: list[Any]) -> dict[str, Any]:
    """Field path -> value as it stands after every correction."""
    values = {name: info.get("value") for name, info in fields.items()}
    for row in stored:
        item = json.loads(row.correction)
        values[item["field"]] = item["corrected"]
    return values


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    from forms.keywords import split_path

    node: Any = data
    parts = split_path(path)
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


@bp.route("/<int:instance_id>/tasks/<task_id>/correct", methods=["GET", "POST"])
def correct(instance_id: int, task_id: str):  # type: ignore[no-untyped-def]
    from forms import CORRECTION_MEANING, FormError, FormInvalid, correct_value, parse_html_submission
    from signatures.credentials import Credentials
    from signatures.errors import SignatureError
    from signatures.records import SimpleRecord
    from signatures.service import sign_correction
    from web.models import FormCorrection
    from web.operator import load_task_form

    user = g.user
    message, status = None, 200
    from audit.canonical import jsonable
    from forms import load_definition
    from forms.corrections import typed
    from forms.html import display
    from web.i18n import current_language

    with unit_of_work() as uow:
        form = load_task_form(uow.session, task_id)
        if form.instance_id != instance_id or form.schema is None:
            raise NotFound(f"no task {task_id} with a form in instance {instance_id}")
        definition = load_definition(form.schema, form.ui_schema)
        first, fields, stored = task_document(uow.session, task_id, form.schema, form.ui_schema)
        values = {path: typed(definition.spec_at(path), value) for path, value in current_values(fields, stored).items()}
        choices = [{"path": path, "label": definition.label_of(path, current_language(),
                                                                lambda n: _("row %(number)s", number=n)),
                    "now": display(value), "unit": (fields.get(path) or {}).get("unit") or ""}
                   for path, value in values.items()
                   if definition.spec_at(path) is not None and definition.spec_at(path).calculated is None]
        if request.method == "POST":
            name = request.form.get("field") or ""
            try:
                parsed = parse_html_submission(form.schema, form.ui_schema,
                                               {f"f:{name}": request.form.get("value") or ""})
                if parsed.errors:
                    raise FormInvalid(list(parsed.errors))
                value = _get_path(parsed.data, name)
                correction = correct_value(form.schema, form.ui_schema, values, name, value,
                                           reason=request.form.get("reason") or "", corrected_by=user.user_id,
                                           corrected_by_name=user.printed_name, signature_id="pending",
                                           signature_meaning=CORRECTION_MEANING,
                                           exception_comment=(request.form.get("exception") or "").strip() or None)
                version = len(stored) + 1
                old = SimpleRecord("task", task_id, version,
                                   first if version == 1 else json.loads(stored[-1].document))
                data = json.loads(json.dumps(first["data"]))
                data.pop("_form", None)
                for earlier in stored:
                    item = json.loads(earlier.correction)
                    _set_path(data, item["field"], item["corrected"])
                _set_path(data, correction.field, jsonable(correction.corrected))
                new_document = {**first, "version": version + 1, "data": data,
                                "correction": {k: v for k, v in correction.to_json().items() if k != "signature_id"}}
                new = SimpleRecord("task", task_id, version + 1, new_document)
                signature = sign_correction(uow, old, new, Credentials(user.user_id, request.form.get("sig_password") or "",
                                                                       (request.form.get("sig_totp") or "").strip() or None),
                                            correction.reason, user.session_id, settings())
                saved = {**correction.to_json(), "signature_id": str(signature.seq)}
                uow.session.add(FormCorrection(instance_id=instance_id, task_id=task_id, record_version=version + 1,
                                               document=json.dumps(new_document, sort_keys=True),
                                               correction=json.dumps(saved, sort_keys=True),
                                               signature_seq=signature.seq, created_at=clock.isoformat(clock.now())))
                uow.audit("task.value_corrected", "task", task_id,
                          changes=[[correction.field, jsonable(correction.original), jsonable(correction.corrected)]],
                          reason=correction.reason, details={"instance_id": instance_id, "record_version": version + 1,
                                                             "signature_seq": signature.seq})
                uow.commit()
                return redirect(url_for("records.record", instance_id=instance_id, _anchor=f"task-{task_id}"))
            except FormInvalid as exc:
                message, status = " ".join(e.translated(_) for e in exc.field_errors), 422
            except (FormError, SignatureError, GmpError) as exc:
                from web.wording import refusal_text

                message, status = refusal_text(exc), 422
        return render_template("records/correct.html", form=form, choices=choices, chosen=request.form.get("field"),
                               instance_id=instance_id, message=message), status


def _get_path(data: Any, path: str) -> Any:
    from forms.keywords import split_path

    node = data
    for part in split_path(path):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node
