"""What the engine needs from the packages beside it, behind one small interface each.

- roles of a user (signatures.identities.roles_of),
- signing a record (signatures.service.sign),
- the catalogue of signature meanings (signatures.meanings.Meaning),
- validating submitted form data (forms.validate_submission).

`default_services()` binds each port to the real package when it is importable; until
then the fallbacks here apply (documented in docs/engine.md). Tests and the web layer
pass an `EngineServices` explicitly or use the default.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping, Protocol

import jsonschema

from core.modules import optional_module
from engine.errors import FormDataInvalid, SignatureRefused

# Meanings known before signatures.meanings exists (Part 11 §50(a) examples and the GMP library's).
DEFAULT_MEANINGS = frozenset({
    "authored", "created", "performed", "reviewed", "verified", "approved", "released", "rejected",
    "classified", "closed", "acknowledged",
})


@dataclass(frozen=True)
class SignatureInput:
    """One signature offered with a task completion (or an approval).

    `signer_id` is the user who signs (the completer, or a second person for a
    verification); `credentials` are what that person typed (e.g. password, TOTP code),
    passed on to the signatures service unread.
    """

    meaning: str
    signer_id: str
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, meaning: str, credentials: Any, **extra: Any) -> "SignatureInput":
        """The signature of the person whose `signatures.credentials.Credentials` are given, with
        their password check done before the write transaction (`credentials.prechecked`, from
        signatures.precheck.precheck_signing) carried along; `extra`: e.g. `reason`."""
        return cls(meaning, credentials.username, {"password": credentials.password, "totp": credentials.totp or "",
                                                   "prechecked": credentials.prechecked, **extra})


@dataclass(frozen=True)
class SignatureRecord:
    """A signature the signatures service made: its id, signer and meaning."""

    signature_id: str
    signer_id: str
    signer_name: str
    meaning: str


class RoleDirectory(Protocol):
    def __call__(self, uow: Any, user_id: str) -> Collection[str]: ...


class Signer(Protocol):
    """Sign the record (type, id, version 1) whose canonical content is `content` (SHA-256: record_hash)."""

    def __call__(self, uow: Any, *, signer_id: str, meaning: str, record_type: str, record_id: str,
                 record_hash: str, content: Mapping[str, Any], credentials: Mapping[str, str]) -> SignatureRecord: ...


class FormValidator(Protocol):
    """Validate submitted data; return the data to store (or None: store it as given)."""

    def __call__(self, schema: Mapping[str, Any], ui_schema: Mapping[str, Any] | None,
                 data: Mapping[str, Any]) -> Mapping[str, Any] | None: ...


_VALIDATORS: dict[str, Any] = {}
_FORMAT_CHECKER = jsonschema.FormatChecker()


def _validator(schema: Mapping[str, Any]) -> Any:
    """A validator per distinct schema, built once (a step validates against the same few forms)."""
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator = validator_cls(schema, format_checker=_FORMAT_CHECKER)
        if len(_VALIDATORS) >= 512:
            _VALIDATORS.clear()
        _VALIDATORS[key] = validator
    return validator


def jsonschema_validate(schema: Mapping[str, Any], ui_schema: Mapping[str, Any] | None,
                        data: Mapping[str, Any]) -> None:
    """Validate `data` against the JSON Schema (until forms.validate_submission exists)."""
    errors = sorted(_validator(schema).iter_errors(dict(data)), key=lambda e: list(e.absolute_path))
    if errors:
        messages = [f"{'/'.join(str(p) for p in e.absolute_path) or '(form)'}: {e.message}" for e in errors]
        raise FormDataInvalid("form data does not match the form: " + "; ".join(messages), messages)


def bind_form(schema: Any, ui_schema: Any, instance_data: Mapping[str, Any]) -> tuple[Any, Any]:
    """The task's form for this instance: rows a repeating group takes from the instance data
    (forms.bind_rows, keyword x-gmp-rows-from) preset; the form as it is without forms/."""
    bind = _optional("forms", "bind_rows")
    return bind(schema, ui_schema, instance_data) if bind is not None else (schema, ui_schema)


def with_presets(schema: Any, ui_schema: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """Submitted data with the preset columns of the form's preset rows filled in (forms.with_presets),
    so the gates that run before the form is validated see whole rows; `data` as it is without forms/."""
    fill = _optional("forms", "with_presets")
    return fill(schema, ui_schema, data) if fill is not None else dict(data)


def _optional(module: str, attribute: str) -> Any:
    found = optional_module(module)
    return getattr(found, attribute, None) if found is not None else None


def _no_roles(uow: Any, user_id: str) -> Collection[str]:
    return ()


def _no_signer(uow: Any, **kwargs: Any) -> SignatureRecord:
    raise SignatureRefused("the signatures service is not available: electronic signatures cannot be made")


def known_meanings() -> frozenset[str]:
    meaning = _optional("signatures.meanings", "Meaning")
    if meaning is None:
        return DEFAULT_MEANINGS
    return frozenset(str(getattr(m, "value", m)) for m in meaning)


@dataclass(frozen=True)
class EngineServices:
    """The collaborators one engine call uses."""

    roles_of: Callable[..., Collection[str]]
    sign: Callable[..., SignatureRecord]
    validate_form: Callable[..., Any] = jsonschema_validate
    meanings: frozenset[str] = DEFAULT_MEANINGS


def default_services(settings: Any = None, auth_session: Any = None) -> EngineServices:
    """Bind to signatures/ and forms/ where they exist; fall back otherwise.

    `settings` (core.config.Settings) is needed by the signing ceremony (server key,
    signing rules); `auth_session` is the signer's login session, so a later signing in
    the same continuous session needs the password only (P11-200a1).
    """
    roles_of = _optional("signatures.identities", "roles_of")
    sign = _optional("signatures.service", "sign")
    validate = _optional("forms", "validate_submission")
    return EngineServices(
        roles_of=_wrap_roles(roles_of) if roles_of else _no_roles,
        sign=_wrap_sign(sign, settings, auth_session) if sign and settings is not None else _no_signer,
        validate_form=_wrap_form(validate) if validate else jsonschema_validate,
        meanings=known_meanings(),
    )


def _wrap_roles(fn: Callable[..., Any]) -> Callable[..., Collection[str]]:
    def roles(uow: Any, user_id: str) -> Collection[str]:
        return {str(getattr(r, "name", r)) for r in fn(uow.session, user_id)}
    return roles


def _wrap_sign(fn: Callable[..., Any], settings: Any, auth_session: Any) -> Callable[..., SignatureRecord]:
    from signatures.credentials import Credentials
    from signatures.records import SimpleRecord

    def sign(uow: Any, *, signer_id: str, meaning: str, record_type: str, record_id: str, record_hash: str,
             content: Mapping[str, Any], credentials: Mapping[str, str]) -> SignatureRecord:
        record = SimpleRecord(record_type, record_id, 1, dict(content))
        creds = Credentials(signer_id, credentials.get("password", ""), credentials.get("totp") or None,
                            prechecked=credentials.get("prechecked"))  # type: ignore[arg-type]
        row = fn(uow, record, meaning, creds, auth_session, settings, reason=credentials.get("reason") or None)
        return SignatureRecord(signature_id=str(row.seq), signer_id=row.signer_id, signer_name=row.printed_name,
                               meaning=row.meaning)
    return sign


def _wrap_form(fn: Callable[..., Any]) -> Callable[..., Any]:
    from core.errors import GmpError

    def validate(schema: Mapping[str, Any], ui_schema: Mapping[str, Any] | None,
                 data: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result = fn(dict(schema), dict(ui_schema) if ui_schema else None, data)
        except GmpError as exc:  # forms.FormInvalid / FormDefinitionError: keep its message
            errors = [str(e) for e in getattr(exc, "errors", [])] or [str(exc)]
            raise FormDataInvalid(f"form data does not match the form: {exc}", errors) from exc
        return dict(getattr(result, "data", data))
    return validate
