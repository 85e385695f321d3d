"""The one signature dialog, used by every page that signs.

Template side: `{% from "_signature_dialog.html" import signature_dialog %}` and
`{{ signature_dialog(meaning, second_signer=False) }}` inside the page's <form>. It shows
the meaning (English and Chinese), asks for the components the continuous-session rule
needs (first signing in a session: user ID, password and TOTP; later: the password), and
optionally a second signer (verifier) who signs in the same dialog without taking over the
session. Server side: `sign_from_form(uow, record, meaning)` (and `second_signer_from_form`)
call `signatures.service.sign` with the credentials posted; the manifestation is shown
after signing with `manifestation_html(signatures)`.
"""
from __future__ import annotations

from typing import Any, Iterable

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from web.errors import SignInRequired
from web.uow import settings, unit_of_work

bp = Blueprint("signing", __name__)


def continuous_session() -> bool:
    """True when the signed-in user has already signed with every component in this session
    (as loaded at the start of the request; the server decides again when signing)."""
    user = g.get("user")
    return bool(user is not None and user.signed_in_session)


def meaning_labels(meaning: str) -> tuple[str, str]:
    from signatures.meanings import labels
    from signatures.signing_rules import load_rules

    return labels(meaning, load_rules(settings()).extra_meanings)


def typed_credentials(prefix: str, user_id: str | None = None):  # type: ignore[no-untyped-def]
    """The components typed in the dialog, with the key unwrap done now (signatures.precheck):
    called before the unit of work opens, the derivation holds no database lock."""
    from signatures.credentials import Credentials
    from signatures.precheck import precheck_signing
    from web.uow import database

    form = request.form
    return precheck_signing(database(), Credentials(
        (user_id or form.get(f"{prefix}_user_id") or "").strip(), form.get(f"{prefix}_password") or "",
        (form.get(f"{prefix}_totp") or "").strip() or None))


def sign_from_form(uow: Any, record: Any, meaning: str, *, reason: str | None = None):  # type: ignore[no-untyped-def]
    """Sign as the signed-in user with the credentials typed in the dialog."""
    from signatures.service import sign

    user = g.get("user")
    if user is None:
        raise SignInRequired("sign in to sign")
    return sign(uow, record, meaning, typed_credentials("sig", user.user_id), user.session_id, settings(), reason=reason)


def second_signer_from_form(uow: Any, record: Any, meaning: str, *, reason: str | None = None):  # type: ignore[no-untyped-def]
    """Sign as the second person (verifier) at this terminal: every component, session untouched."""
    from signatures.service import sign

    user = g.get("user")
    return sign(uow, record, meaning, typed_credentials("sig2"), user.session_id if user else None, settings(), reason=reason)


def has_second_signer() -> bool:
    return bool((request.form.get("sig2_user_id") or "").strip())


def manifestation_html(signatures: Iterable[Any]) -> Markup:
    from signatures.manifestation import render_html

    return Markup(render_html(list(signatures), settings()))


def dialog_globals() -> dict[str, Any]:
    return {"continuous_session": continuous_session, "meaning_labels": meaning_labels}


def _local_path(target: str | None) -> str | None:
    """`target` as a path on this site, or None (never a redirect elsewhere)."""
    if not target:
        return None
    if target.startswith(request.host_url):
        target = "/" + target[len(request.host_url):]
    return target if target.startswith("/") and not target.startswith("//") else None


def accountability_page(*, carried: list[tuple[str, str]] | None = None, resume: str | None = None,
                        task_name: str | None = None, message: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    """The statement with what a task form carried (entries kept for the way back)."""
    from signatures.accountability import get_statement, statement_texts

    user = g.user
    with unit_of_work() as uow:
        signed = get_statement(uow.session, user.user_id)
        en, zh = statement_texts(user.user_id, user.printed_name)
        return render_template("signing/accountability.html", signed=signed, en=en, zh=zh, message=message,
                               carried=carried or [], resume=resume, task_name=task_name,
                               next=_local_path(request.args.get("next") or request.form.get("next"))), status


@bp.route("/accountability", methods=["GET", "POST"])
def accountability():  # type: ignore[no-untyped-def]
    """The statement that an electronic signature is binding, signed once before the first signature (P11-10j).

    A task form that needed it sends the person here with their entries (`carry.*` fields) and
    `resume` (the task's resume URL); after signing, they go back with the entries kept."""
    from signatures.accountability import sign_statement
    from signatures.errors import SignatureError
    from web.wording import refusal_text

    user = g.user
    carried = [(name, value) for name, values in request.form.lists() if name.startswith("carry.") for value in values]
    resume = _local_path(request.form.get("resume"))
    if resume is not None and not (resume.startswith("/tasks/") and resume.endswith("/resume")):
        resume = None
    if request.method == "POST":
        try:
            with unit_of_work() as uow:
                sign_statement(uow, typed_credentials("sig", user.user_id), settings())
                uow.commit()
        except SignatureError as exc:
            return accountability_page(carried=carried, resume=resume, task_name=request.form.get("task_name"),
                                       message=refusal_text(exc), status=422)
        if resume is not None:
            return render_template("signing/continue.html", carried=carried, resume=resume,
                                   task_name=request.form.get("task_name"))
        flash(_("The accountability statement is signed."), "info")
        target = _local_path(request.form.get("next"))
        return redirect(target or url_for("signing.accountability"))
    return accountability_page()


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(dialog_globals())
