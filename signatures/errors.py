"""Errors of identities, credentials and signatures. Root: SignatureError."""
from __future__ import annotations

from core.errors import GmpError


class SignatureError(GmpError):
    """Root of every error raised by signatures/."""


# ---------------------------------------------------------------- identities and roles
class UnknownUser(SignatureError):
    http_status = 404


class UnknownRole(SignatureError):
    http_status = 404


class DuplicateUser(SignatureError):
    """A user ID exists already (user IDs are never reused, P11-100a)."""

    http_status = 409


class DuplicateRole(SignatureError):
    http_status = 409


class InvalidIdentityData(SignatureError):
    http_status = 422


class RoleConflict(SignatureError):
    """Admin, audit and business role kinds may not be combined (CN-1)."""

    http_status = 409


class AccountStateError(SignatureError):
    """The account is not in a state that allows the operation."""

    http_status = 409


class NotAuthorised(SignatureError):
    http_status = 403


class BootstrapRefused(SignatureError):
    http_status = 409


# ---------------------------------------------------------------- credentials
class AuthenticationFailed(SignatureError):
    """Wrong user ID, password or TOTP code. Deliberately vague towards the user."""

    http_status = 401


class AccountLocked(AuthenticationFailed):
    pass


class AccountDisabled(AuthenticationFailed):
    pass


class AccountExpired(AuthenticationFailed):
    pass


class NotEnrolled(AuthenticationFailed):
    pass


class PasswordExpired(AuthenticationFailed):
    """Ageing: the password must be changed before the account is used again."""


class PasswordPolicyError(SignatureError):
    http_status = 422


class EnrolmentError(SignatureError):
    """The enrolment secret is unknown, used, revoked or expired, or the TOTP check failed."""

    http_status = 400


# ---------------------------------------------------------------- sessions
class SessionError(SignatureError):
    http_status = 401


class SessionExpired(SessionError):
    pass


class UnknownSession(SessionError):
    pass


# ---------------------------------------------------------------- signing
class SigningRefused(SignatureError):
    """A signing attempt was refused by a rule (the attempt is audited)."""

    http_status = 403


class MissingComponent(SigningRefused):
    """The signing ceremony lacks an authentication component (P11-200a1)."""


class RoleNotPermitted(SigningRefused):
    """The signer's roles do not allow this meaning on this record type (P11-10g)."""


class FourEyesViolation(SigningRefused):
    """The same person may not sign the same record twice (A11-6, CN-3)."""


class AccountabilityNotSigned(SigningRefused):
    """The accountability statement must be signed before the first signature (P11-10j)."""


class IdentityNotVerified(SigningRefused):
    """Identity verification must be recorded before signing (P11-100b)."""


class RecordVersionError(SigningRefused):
    """Signatures bind to one record version; superseded versions cannot be signed."""


class InvalidRecord(SignatureError):
    """The object passed to sign/verify does not implement the signable-record protocol."""

    http_status = 422


class UnknownMeaning(SignatureError):
    http_status = 422


class RulesError(SignatureError):
    """The signing-rules configuration is invalid."""


class SigningKeyError(SignatureError):
    """The user's signing key is missing or cannot be unwrapped."""


class VerificationError(SignatureError):
    """A signature does not verify. The message names the signature and what failed."""

    http_status = 409


class ContentChanged(VerificationError):
    pass


class SignatureInvalid(VerificationError):
    pass


class CountersignatureInvalid(VerificationError):
    pass


class BindingMismatch(VerificationError):
    """The signature's stored binding (type, id, version) is not this record's."""


class NoSignatures(VerificationError):
    pass
