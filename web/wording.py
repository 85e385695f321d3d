"""Refusals and check problems worded for the person in front of the screen, in English and
Chinese: the one place where the web layer words them.

The services raise specific errors whose English messages are written for the audit trail
and for developers ("task 'weigh' belongs to role 'qa'; alice holds operator"). A page shows
`refusal_text(exc)` instead: the first `Wording` whose error class matches (the root cause is
tried first, so a signature refused because the accountability statement is missing reads as
that) and whose pattern, if any, matches the English message; its named groups fill the
translated text. A gate's refusal (engine.errors.GateRefused, engine.gates.Refusal) is matched
by its gate code, its parameters fill the text; a code not listed here reads as the gate's own
message template, translated. Any other error not listed here is shown with its own message.
`web.i18n.refusal_text` (the templates' global) is this function.
`problem_text(message)` does the same for the problems the definition checks find (the
modeler and the review page show them to QA).

tests/web/test_wording.py raises each listed error from its service and checks the wording,
so a changed service message fails there first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import g
from flask_babel import gettext

from forms.errors import N_


@dataclass(frozen=True)
class Wording:
    error: str  # class name of the error (or of a class it derives from)
    text: str  # message for the reader, marked with N_; %(group)s from the pattern and `signer`
    pattern: re.Pattern[str] | None = None
    someone_else: str | None = None  # when the signer is not the signed-in user (a second person)
    code: str | None = None  # a gate refusal's code (engine.gates.Gate.codes): matched instead of the class


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


REFUSALS: tuple[Wording, ...] = (
    # signatures (the signer may be the second person at the terminal)
    Wording("AccountabilityNotSigned",
            N_("Before your first electronic signature, please read and sign the accountability statement: it "
               "records that your electronic signature is as binding as your handwritten one."),
            someone_else=N_("%(signer)s has not signed the accountability statement yet. They sign it once, signed "
                            "in as themselves (Accountability statement), before they can sign as the second person.")),
    Wording("IdentityNotVerified",
            N_("You cannot sign yet: an administrator must first record that your identity was checked."),
            someone_else=N_("%(signer)s cannot sign yet: an administrator must first record that their identity was "
                            "checked.")),
    Wording("AccountLocked",
            N_("The account is locked after too many wrong attempts. An administrator must unlock it."),
            someone_else=N_("The account of %(signer)s is locked after too many wrong attempts. An administrator "
                            "must unlock it.")),
    Wording("AuthenticationFailed",
            N_("This code has been used already. Wait for the next code in your authenticator app (a new one "
               "comes every 30 seconds) and sign again."),
            _p(r"TOTP code has been used already"),
            someone_else=N_("The code of %(signer)s has been used already. They wait for the next code in their "
                            "authenticator app and enter it.")),
    Wording("AuthenticationFailed",
            N_("The password or the code from the authenticator app is not right. Please check both and sign again."),
            someone_else=N_("The user ID, password or code of the second person (%(signer)s) is not right. Please "
                            "check them and sign again.")),
    Wording("MissingComponent",
            N_("Please enter your password and the code from your authenticator app to sign."),
            someone_else=N_("The second person enters their user ID, password and authenticator code to sign.")),
    Wording("FourEyesViolation",
            N_("You have signed this record already. The second signature must come from another person.")),
    Wording("RoleNotPermitted",
            N_("Administrator accounts never sign GMP records."), _p(r"administrator accounts never sign")),
    Wording("RoleNotPermitted",
            N_("Auditor accounts never sign GMP records."), _p(r"audit-kind roles never sign")),
    Wording("RoleNotPermitted",
            N_("Your roles do not allow this signature (%(meaning)s) here."),
            _p(r"signing '(?P<meaning>[^']+)' on"),
            someone_else=N_("The roles of %(signer)s do not allow this signature (%(meaning)s) here.")),
    # tasks
    Wording("LaneRoleRefused",
            N_("This step is done by the role %(role)s, which you do not hold. It stays in that role's inbox."),
            _p(r"belongs to role '(?P<role>[^']+)'")),
    Wording("SignatureRequired",
            N_("This step must be verified by a second person: they enter their user ID, password and code under "
               "\"Second person\" before you sign."), _p(r"requires a second person's signature")),
    Wording("SignatureRequired",
            N_("Please enter your password and the code from your authenticator app to sign this step.")),
    Wording("SignatureRefused",
            N_("The second signature must come from another person, not from the person who did the step."),
            _p(r"must be made by")),
    Wording("GateNotRegistered",
            N_("This step needs a check (%(gate)s) that this installation does not have: please tell QA, who own "
               "the process."), code="not_registered"),
    Wording("GateRefused",
            N_("The verification must come from a second person, not from the person who did the step."),
            code="self_verification"),
    Wording("GateRefused",
            N_("You did the previous step (%(previous)s) of this record, so this one must be done by someone else."),
            code="completed_previous"),
    Wording("GateRefused",
            N_("This record cannot be released while deviation %(deviations)s is open. QA closes the deviation "
               "first; the batch is then released or rejected."), code="deviation_open"),
    Wording("TaskStateError",
            N_("%(user)s is working on this step: it stays with them until they complete or release it."),
            _p(r"is claimed by (?P<user>[^;\s]+)")),
    Wording("TaskStateError",
            N_("This step has been completed or cancelled in the meantime. Nothing was saved; please reload your "
               "inbox."), _p(r"is not ready|is not a ready user task|instance \d+ is ")),
    Wording("ConcurrentUpdate",
            N_("Someone else saved this record at the same moment. Nothing was saved; your entries are still on the "
               "page: please sign again.")),
    Wording("TaskNotFound", N_("There is no such step (it may have been completed or cancelled).")),
    # process definitions
    Wording("DefinitionStateError",
            N_("This process has no approved version yet: a QA user must approve a draft before it can be started."),
            _p(r"has no approved version")),
    Wording("DefinitionStateError",
            N_("Only a draft can be approved or submitted; this version is %(status)s."),
            _p(r" is (?P<status>\w+); only a draft")),
    Wording("ApprovalRefused",
            N_("You made this version, so you may not approve it: a second QA user must."),
            _p(r"may not approve it")),
    Wording("ApprovalRefused",
            N_("Approving process versions needs the QA role."), _p(r"needs role 'qa'")),
    Wording("DefinitionError",
            N_("The version cannot take effect on %(date)s: that day is in the past. Choose today or a later date, "
               "or leave the date empty for at once."),
            _p(r"effective from (?P<date>[\d-]+): a change cannot take effect in the past")),
    Wording("DefinitionError",
            N_("The effective date is not a date: enter it as 2027-01-31 (or leave it empty for at once)."),
            _p(r"expected a date \(")),
    Wording("DefinitionError",
            N_("Another version is already approved to take effect on %(date)s: this one cannot take effect "
               "before it."), _p(r"an approved revision takes effect on (?P<date>\d{4}-\d{2}-\d{2})")),
    Wording("DefinitionCheckFailed",
            N_("The process has %(count)s problem(s) to fix before it can be approved; they are marked in the "
               "diagram."), _p(r"^(?P<count>\d+) problem")),
)

PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_p(r"^user task is not in a lane"),
     N_("This task is not in a lane. Put it in the lane of the role that performs it.")),
    (_p(r"^lane '(?P<lane>[^']*)' is not a configured role \(roles: (?P<roles>.*)\)$"),
     N_("The lane \"%(lane)s\" is not a role of this site. Name the lane after a role: %(roles)s.")),
    (_p(r"^service operator '(?P<operator>[^']+)' is not registered"),
     N_("This service task calls \"%(operator)s\", which this engine does not offer.")),
    (_p(r"^service task names no operator"),
     N_("This service task names no operator: choose what it does, or make it a user task.")),
    (_p(r"^process is not executable"),
     N_("The process is not marked executable: tick \"Executable\" in the process's properties (General).")),
    (_p(r"^element is not connected to the process flow"),
     N_("This element is not connected to the flow. Connect it with sequence flows, or remove it.")),
    (_p(r"^signature\.(meaning|verifier) '(?P<meaning>[^']+)' is not a known signature meaning"),
     N_("\"%(meaning)s\" is not a signature meaning. Choose one from the list.")),
    (_p(r"^signature\.verifier needs a signature\.meaning"),
     N_("A verifier signature needs the performer's signature first: set the signature meaning too.")),
    (_p(r"^property '(?P<property>[^']+)' needs gate '(?P<gate>[^']+)', which is not registered"),
     N_("%(property)s needs the check \"%(gate)s\", which this installation does not have: remove the property, "
        "or ask for the check to be installed.")),
    (_p(r"^gate '(?P<gate>[^']+)' is not registered"),
     N_("The gate \"%(gate)s\" does not exist in this installation. Choose one from the list.")),
    (_p(r"^unknown extension property '(?P<name>[^']+)'"),
     N_("\"%(name)s\" is not a GMP property (a misspelling?). Use the fields of the GMP group.")),
    (_p(r"^form file '(?P<file>[^']+)' \(\w+\) is not among the uploaded files"),
     N_("The form file %(file)s is not part of this process. Choose one of its forms, or upload it.")),
    (_p(r"^form file '(?P<file>[^']+)' is not valid JSON"),
     N_("The form file %(file)s is not valid JSON.")),
    (_p(r"^form file '(?P<file>[^']+)' is not a valid JSON Schema: (?P<detail>.*)$"),
     N_("The form file %(file)s is not a valid JSON Schema: %(detail)s")),
    (_p(r"^BPMN schema: (?P<detail>.*)$"),
     N_("Not valid BPMN 2.0: %(detail)s")),
    (_p(r"^Data Store with name (?P<name>.+?) has no implementation"),
     N_("The data store \"%(name)s\" cannot be used: this engine has no data stores. Keep the data in the "
        "process's forms instead.")),
    (_p(r"^The process '(?P<process>[^']+)' was not found"),
     N_("The called process \"%(process)s\" is not part of this upload.")),
    (_p(r"^expression or script refused by the sandbox: (?P<detail>.*)$"),
     N_("This script or expression is not allowed: %(detail)s")),
)

FORM_NEEDS_VERIFIER = N_(
    "Values outside the limits, overrides and manual entries need a second person to verify them, but this step "
    "has no verification. Enter values within the limits from the equipment, or ask QA to add a verifier to this "
    "step.")


def _chain(exc: Any) -> list[Any]:
    out: list[Any] = []
    current: Any = exc
    while current is not None and current not in out:
        out.append(current)
        current = getattr(current, "__cause__", None)
    return out


def _is(exc: Any, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def _message(error: Any) -> str:
    if getattr(error, "element", None):  # placed at a diagram element: its message names the element
        return str(error)
    return str(getattr(error, "detail", None) or error)


def _matches(error: Any, wording: Wording) -> bool:
    if wording.code is not None:  # a gate's refusal, whether raised (GateRefused) or listed (Refusal)
        return getattr(error, "code", None) == wording.code and getattr(error, "template", None) is not None
    return _is(error, wording.error)


_SIGNER = re.compile(r"signature '[^']+' by (?P<signer>\S+) refused")


def refusal_text(exc: Any, *, user_id: str | None = None) -> str:
    """The refusal worded for the reader (their language), or the error's own message.

    `exc` is an exception or a gate's `engine.gates.Refusal`."""
    chain = _chain(exc)
    found = _SIGNER.search(_message(exc))
    signer = found.group("signer") if found else None
    if user_id is None:
        user = g.get("user")
        user_id = user.user_id if user is not None else None
    someone_else = signer is not None and user_id is not None and signer != user_id
    for error in reversed(chain):  # the root cause first
        message = _message(error)
        for wording in REFUSALS:
            if not _matches(error, wording):
                continue
            match = wording.pattern.search(message) if wording.pattern else None
            if wording.pattern is not None and match is None:
                continue
            params: dict[str, Any] = {**dict(getattr(error, "params", None) or {}),
                                      **(match.groupdict() if match else {}), "signer": signer or ""}
            text = wording.someone_else if someone_else and wording.someone_else else wording.text
            return _filled(text, params)
    for error in reversed(chain):
        if getattr(error, "template", None):
            return _gate_message(error)
    return _message(exc)


def _filled(text: str, params: dict[str, Any]) -> str:
    translated = gettext(text)
    try:
        return translated % params if "%(" in translated else translated
    except (KeyError, ValueError, TypeError):  # a translation that names other placeholders
        return text % params if "%(" in text else text


def _gate_message(refusal: Any) -> str:
    """A gate refusal's own message template translated, filled with its parameters; the
    English detail where the catalogue has no translation."""
    try:
        return str(gettext(refusal.template, **dict(getattr(refusal, "params", None) or {})))
    except (KeyError, ValueError, TypeError):
        return _message(refusal)


# Refusal messages of the engine's own gates (engine.gates.CORE_GATES, engine.errors), for the
# catalogues: the engine does not import Flask-Babel, its templates are extracted from here.
ENGINE_MESSAGES = (
    N_("four-eyes: the '%(meaning)s' signature on '%(task)s' must come from a second person, not from %(user)s "
       "who completes the task"),
    N_("four-eyes: %(user)s completed the previous step '%(previous)s' and may not also take '%(task)s'"),
    N_("task '%(task)s' needs gate '%(gate)s', which is not registered"),
)


def problem_text(message: str) -> str:
    """A definition check's problem worded for QA (their language), or as it is."""
    for pattern, text in PROBLEMS:
        match = pattern.search(message)
        if match:
            return gettext(text) % match.groupdict() if match.groupdict() else gettext(text)
    return message


def needs_accountability(exc: BaseException) -> bool:
    """True when the signed-in user's own signature was refused for the missing statement."""
    chain = _chain(exc)
    if not any(_is(e, "AccountabilityNotSigned") for e in chain):
        return False
    found = _SIGNER.search(_message(exc))
    user = g.get("user")
    return found is None or user is None or found.group("signer") == user.user_id
