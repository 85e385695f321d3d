"""Sign-in (user ID, password, TOTP), sign-out, enrolment with a QR code, password change.

Thin views over signatures.credentials / enrolment / sessions. A refused attempt is
recorded and counted by those services when the unit of work rolls back; the page only
shows the message. The cookie holds just the server-side session id, replaced at every
sign-in (no session fixation).
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from core.errors import GmpError
from web.current_user import SESSION_KEY
from web.security import safe_next
from web.uow import settings, unit_of_work

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    return safe_next(target) or url_for("main.home")


def _field(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.route("/sign-in", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    from signatures.credentials import Credentials
    from signatures.credentials import login as sign_in
    from signatures.errors import AccountLocked, PasswordExpired, SignatureError
    from signatures.precheck import precheck_login
    from web.uow import database

    message = None
    if request.method == "GET" and request.args.get("expired"):
        message = _("Your session ended after %(minutes)s minutes without activity. Please sign in again.",
                    minutes=settings().session_timeout_minutes)
    elif request.method == "GET" and g.get("session_ended"):
        message = g.session_ended
    status = 200
    user_id = _field("user_id")
    if request.method == "POST":
        password = request.form.get("password") or ""
        checked = precheck_login(database(), Credentials(user_id, password)).prechecked  # before the write lock
        try:
            with unit_of_work() as uow:
                row = sign_in(uow, user_id, password, _field("totp"), settings(), client=request.remote_addr,
                              prechecked=checked)
                uow.commit()
        except AccountLocked:
            message, status = _("This account is locked after too many failed attempts. "
                                "An administrator must unlock it; the attempt was recorded."), 423
        except PasswordExpired:
            flash(_("Your password has expired: choose a new one."), "warning")
            return redirect(url_for("auth.password", user_id=user_id))
        except SignatureError as exc:
            message, status = sign_in_message(exc), 401
        else:
            language = session.get("lang")
            session.clear()
            session.permanent = True
            session[SESSION_KEY] = row.id
            if language:
                session["lang"] = language
            return redirect(_safe_next(request.form.get("next")))
    return render_template("auth/login.html", message=message, user_id=user_id,
                           next=safe_next(request.values.get("next")) or ""), status


def sign_in_message(exc: Exception) -> str:
    """A refused sign-in in the user's language (the service's English text for anything else)."""
    from signatures.errors import AccountDisabled, AccountExpired, AuthenticationFailed, NotEnrolled

    if isinstance(exc, AccountDisabled):
        return _("This account is deactivated.")
    if isinstance(exc, AccountExpired):
        return _("This account has expired.")
    if isinstance(exc, NotEnrolled):
        return _("This account has not completed enrolment.")
    if isinstance(exc, AuthenticationFailed) and "used already" in str(exc):
        return _("This code has been used already: wait for the next code.")
    if isinstance(exc, AuthenticationFailed):
        return _("User ID, password or code is wrong. The attempt was recorded.")
    return str(exc)


@bp.post("/sign-out")
def logout():  # type: ignore[no-untyped-def]
    from signatures.errors import SessionError
    from signatures.sessions import get_active_session
    from signatures.sessions import logout as end_session

    with unit_of_work() as uow:
        try:
            row = get_active_session(uow.session, session.get(SESSION_KEY, ""), settings())
        except SessionError:
            row = None
        if row is not None:
            end_session(uow, row)
            uow.commit()
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


def qr_svg(uri: str) -> Markup:
    import segno

    return Markup(segno.make(uri, error="m").svg_inline(scale=4, title="TOTP", omitsize=False))


@bp.route("/enrol", methods=["GET", "POST"])
def enrol():  # type: ignore[no-untyped-def]
    """Step 1: user ID + one-time enrolment secret -> QR code. Step 2: password + TOTP code."""
    from signatures.enrolment import enrol as complete
    from signatures.enrolment import start_enrolment
    from signatures.errors import SignatureError

    user_id, secret = _field("user_id"), _field("secret")
    if request.method == "GET":
        return render_template("auth/enrol.html", user_id=request.args.get("user_id", ""), step=1, message=None)
    try:
        with unit_of_work() as uow:
            view = start_enrolment(uow.session, user_id, secret)
    except SignatureError as exc:
        return render_template("auth/enrol.html", user_id=user_id, step=1, message=str(exc)), 422
    if request.form.get("step") != "2":
        return render_template("auth/enrol.html", user_id=user_id, secret=secret, step=2, view=view,
                               qr=qr_svg(view.provisioning_uri), message=None)
    message = None
    if request.form.get("password") != request.form.get("password_repeat"):
        message = _("The two passwords differ.")
    else:
        try:
            with unit_of_work() as uow:
                complete(uow, user_id, secret, request.form.get("password") or "", _field("totp"), settings())
                uow.commit()
        except SignatureError as exc:
            message = str(exc)
        else:
            flash(_("Enrolment complete. Sign in with your password and a code from your authenticator app."), "info")
            return redirect(url_for("auth.login"))
    return render_template("auth/enrol.html", user_id=user_id, secret=secret, step=2, view=view,
                           qr=qr_svg(view.provisioning_uri), message=message), 422


@bp.route("/password", methods=["GET", "POST"])
def password():  # type: ignore[no-untyped-def]
    from signatures.credentials import change_password

    user = g.get("user")
    user_id = user.user_id if user is not None else (_field("user_id") or request.args.get("user_id", ""))
    message = None
    if request.method == "POST":
        if request.form.get("new_password") != request.form.get("new_password_repeat"):
            message = _("The two new passwords differ.")
        else:
            try:
                with unit_of_work() as uow:
                    change_password(uow, user_id, request.form.get("password") or "", _field("totp"),
                                    request.form.get("new_password") or "", settings())
                    uow.commit()
            except GmpError as exc:
                message = str(exc)
            else:
                flash(_("Your password has been changed."), "info")
                return redirect(url_for("main.home") if user is not None else url_for("auth.login"))
    return render_template("auth/password.html", user_id=user_id, message=message), (422 if message else 200)
