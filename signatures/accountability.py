"""The accountability statement (P11-10j): signed once, before the user's first signature.

The statement is signed with the user's own key after all components (user ID,
password, TOTP); it is stored append-only and exportable (message, signature, key).
"""
from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.canonical import Actor, canonical_bytes
from core import clock
from core.config import Settings
from signatures.credentials import Credentials, authenticate
from signatures.errors import AccountStateError, MissingComponent
from signatures.keys import current_key, public_pem, unwrap_private_key
from signatures.models import AccountabilityStatement, SigningKey
from signatures.precheck import KeyUnlock
from store.uow import UnitOfWork

DOMAIN = b"GMP-ACCOUNTABILITY-v1\x00"
STATEMENT_EN = ("I, {name} (user ID {user_id}), certify that my electronic signature in this system is the legally "
                "binding equivalent of my traditional handwritten signature, and I will not share my password, "
                "TOTP device or signature with anyone.")
STATEMENT_ZH = ("本人 {name}（用户ID {user_id}）确认：本人在本系统中的电子签名与本人的传统手写签名具有同等法律约束力，"
                "本人不会与任何人共享密码、动态口令设备或签名。")


def statement_texts(user_id: str, printed_name: str) -> tuple[str, str]:
    return (STATEMENT_EN.format(name=printed_name, user_id=user_id),
            STATEMENT_ZH.format(name=printed_name, user_id=user_id))


def get_statement(session: Session, user_id: str) -> AccountabilityStatement | None:
    return session.execute(
        select(AccountabilityStatement).where(AccountabilityStatement.user_id == user_id)
        .order_by(AccountabilityStatement.id)
    ).scalars().first()


def sign_statement(uow: UnitOfWork, credentials: Credentials, settings: Settings) -> AccountabilityStatement:
    """Sign the statement with every component; refused if already signed."""
    if not credentials.totp:
        uow.record_refusal("accountability.refused", "user", credentials.username,
                           reason="missing component: TOTP code")
        raise MissingComponent("signing the accountability statement needs user ID, password and TOTP code")
    unlock = KeyUnlock(uow.session, credentials)  # the password check unwraps the key (prechecked: no derivation)
    user = authenticate(uow, credentials.username, credentials.password, credentials.totp, settings,
                        action="accountability.refused", password_check=unlock)
    if get_statement(uow.session, user.user_id) is not None:
        raise AccountStateError(f"{user.user_id} has signed the accountability statement already")
    key, private = unlock.key, unlock.private
    if key is None or private is None:  # no current key: refused here
        key = current_key(uow.session, user.user_id)
        private = unwrap_private_key(key, credentials.password)
    en, zh = statement_texts(user.user_id, user.printed_name)
    signed_at = clock.isoformat(clock.now())
    message = DOMAIN + canonical_bytes({"v": 1, "user_id": user.user_id, "printed_name": user.printed_name,
                                        "statement_en": en, "statement_zh": zh, "signed_at": signed_at,
                                        "key_id": key.key_id})
    row = AccountabilityStatement(user_id=user.user_id, statement_en=en, statement_zh=zh, signed_at=signed_at,
                                  key_id=key.key_id, message=message, signature=private.sign(message))
    uow.session.add(row)
    uow.session.flush()
    uow.audit("accountability.signed", "user", user.user_id, actor=Actor(user.user_id, user.printed_name),
              details={"key_id": key.key_id, "signed_at": signed_at})
    return row


def export_statement(session: Session, user_id: str) -> dict[str, Any]:
    """The signed statement with everything needed to verify it (message, signature, PEM key)."""
    row = get_statement(session, user_id)
    if row is None:
        raise AccountStateError(f"{user_id} has not signed the accountability statement")
    key = session.get(SigningKey, row.key_id)
    assert key is not None
    return {"user_id": row.user_id, "signed_at": row.signed_at, "statement_en": row.statement_en,
            "statement_zh": row.statement_zh, "key_id": row.key_id,
            "message_b64": base64.b64encode(row.message).decode(),
            "signature_b64": base64.b64encode(row.signature).decode(),
            "public_key_pem": public_pem(key).decode()}
