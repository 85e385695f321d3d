"""Codes the services store, shown to people in their language.

Statuses, value sources and audit actions are stored as codes (`approved`, `manual_override`,
`definition_version.approved`) and stay codes in exports and the audit trail; pages show
`code_label(kind, code)` (Jinja global) instead. An audit action `<object>.<verb>` reads
"object: verb" from the two tables below, so a new action needs at most a new word; an
unknown code is shown as it is.
"""
from __future__ import annotations

from flask import Flask
from flask_babel import gettext

from forms.errors import N_

CODES: dict[str, dict[str, str]] = {
    "version_status": {"draft": N_("draft"), "submitted": N_("submitted for approval"), "approved": N_("approved"),
                       "scheduled": N_("approved, not yet in force"), "superseded": N_("superseded")},
    "instance_status": {"running": N_("running"), "completed": N_("completed"), "cancelled": N_("cancelled"),
                        "error": N_("stopped by an error")},
    "task_state": {"READY": N_("ready"), "COMPLETED": N_("completed"), "WAITING": N_("waiting"),
                   "STARTED": N_("started"), "FUTURE": N_("future"), "LIKELY": N_("likely"), "MAYBE": N_("maybe"),
                   "CANCELLED": N_("cancelled"), "ERROR": N_("error")},
    "source": {"manual": N_("entered by hand"), "equipment": N_("from equipment"),
               "manual_override": N_("manual override of the equipment value"), "calculated": N_("calculated")},
    "tag_revision_status": {"pending": N_("waiting for approval"), "approved": N_("approved"),
                            "rejected": N_("rejected"), "superseded": N_("superseded")},
    "change": {"added": N_("added"), "removed": N_("removed"), "changed": N_("changed")},
}

AUDIT_OBJECTS: dict[str, str] = {
    "access": N_("Access"), "access_review": N_("Access review"), "accountability": N_("Accountability statement"),
    "audit_review": N_("Audit trail review"), "backup": N_("Backup"), "definition": N_("Process"),
    "definition_version": N_("Process version"), "equipment": N_("Equipment"), "instance": N_("Process instance"),
    "operator": N_("Service operator"), "role": N_("Role"), "security_alert": N_("Security alert"),
    "server_key": N_("Server key"), "signature": N_("Signature"), "tag": N_("Equipment tag"),
    "tag_registry": N_("Tag registry"), "task": N_("Task"), "timer": N_("Timer"), "user": N_("User"),
    "checkpoint": N_("Audit checkpoint"), "message": N_("Message"), "setpoint_write": N_("Set-point write"),
}
AUDIT_VERBS: dict[str, str] = {
    "created": N_("created"), "approved": N_("approved"), "approval_refused": N_("approval refused"),
    "submitted": N_("submitted for approval"), "submission_refused": N_("submission refused"),
    "superseded": N_("superseded"), "refused": N_("refused"), "signed": N_("signed"), "recorded": N_("recorded"),
    "restored": N_("restored"), "started": N_("started"), "completed": N_("completed"), "cancelled": N_("cancelled"),
    "exception_recorded": N_("exception recorded"), "linked": N_("linked"), "failed": N_("failed"),
    "progress": N_("in progress"), "granted": N_("granted"), "revoked": N_("revoked"),
    "acknowledged": N_("acknowledged"), "rotated": N_("rotated"), "sampled": N_("sampled"),
    "write_refused": N_("write refused"), "write_requested": N_("write requested"), "imported": N_("imported"),
    "import_refused": N_("import refused"), "rejected": N_("rejected"), "reject_refused": N_("rejection refused"),
    "claimed": N_("claimed"), "claim_refused": N_("claim refused"), "released": N_("released"),
    "release_refused": N_("release refused"), "state_changed": N_("state changed"),
    "value_corrected": N_("value corrected"), "fired": N_("fired"), "voided": N_("voided"),
    "credentials_revoked": N_("credentials revoked"), "deactivated": N_("deactivated"),
    "enrolled": N_("enrolled"), "expiry_changed": N_("expiry changed"), "identity_verified": N_("identity verified"),
    "language_set": N_("language set"), "locked": N_("locked"), "unlocked": N_("unlocked"), "login": N_("signed in"),
    "login_refused": N_("sign-in refused"), "logout": N_("signed out"),
    "password_changed": N_("password changed"), "password_change_refused": N_("password change refused"),
    "read_refused": N_("read refused"), "data_refused": N_("data refused"), "written": N_("written"),
    "confirmed": N_("confirmed"), "routed": N_("routed"),
}


def code_label(kind: str, code: object) -> str:
    """The label of a stored code in the reader's language; the code itself when unknown."""
    if code is None or code == "":
        return "—"
    text = str(code)
    if kind == "action":
        return action_label(text)
    label = CODES.get(kind, {}).get(text)
    return gettext(label) if label else text


def action_label(action: str) -> str:
    """'definition_version.approved' -> 'Process version: approved' (translated)."""
    obj, _sep, verb = action.partition(".")
    if obj not in AUDIT_OBJECTS or verb not in AUDIT_VERBS:
        return action
    return gettext("%(object)s: %(verb)s", object=gettext(AUDIT_OBJECTS[obj]), verb=gettext(AUDIT_VERBS[verb]))


def init_app(app: Flask) -> None:
    app.jinja_env.globals["code_label"] = code_label
