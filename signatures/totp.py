"""TOTP second factor (RFC 6238, pyotp) with replay protection.

A code is accepted for the current 30-second step or one step either side (clock
drift), and only if its step is later than the last step accepted for the account:
a code, once used, is never accepted again.
"""
from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

ISSUER = "GMP Workflow"
PERIOD_SECONDS = 30  # RFC 6238 time step (pyotp's default, counted from the Unix epoch)


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, user_id: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user_id, issuer_name=issuer)


def current_step(secret: str, at: datetime) -> int:
    return int(pyotp.TOTP(secret).timecode(at))


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def match(secret: str, code: str | None, at: datetime, last_step: int) -> tuple[int | None, str]:
    """(accepted step, '') or (None, why): 'missing', 'malformed', 'wrong', 'replayed'."""
    if code is None or not str(code).strip():
        return None, "missing"
    code = str(code).replace(" ", "").strip()
    if len(code) != 6 or not code.isdigit():
        return None, "malformed"
    step = current_step(secret, at)
    replayed = False
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(code_at_step(secret, candidate), code):
            if candidate > last_step:
                return candidate, ""
            replayed = True
    return None, "replayed" if replayed else "wrong"
