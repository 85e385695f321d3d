"""What a signature signs: the signed and countersigned documents and their domain tags.

Signed message (by the signer's own key):
    SIGNATURE_DOMAIN || canonical JSON of `signature_document(row)`
Countersigned message (by the server key):
    COUNTERSIGNATURE_DOMAIN || canonical JSON of `countersignature_document(row)`
Used by the ceremony (service.py) to build them and by verification (verify.py) to check them.
"""
from __future__ import annotations

import hashlib
from typing import Any

from signatures.models import Signature

SIGNATURE_DOMAIN = b"GMP-SIGNATURE-v1\x00"
COUNTERSIGNATURE_DOMAIN = b"GMP-COUNTERSIGNATURE-v1\x00"


def signature_document(row: Signature) -> dict[str, Any]:
    return {"v": 1, "seq": row.seq, "record_type": row.record_type, "record_id": row.record_id,
            "record_version": row.record_version, "content_sha256": row.content_sha256, "signer_id": row.signer_id,
            "printed_name": row.printed_name, "meaning": row.meaning, "signed_at": row.signed_at,
            "components": row.components, "reason": row.reason, "key_id": row.key_id}


def countersignature_document(row: Signature) -> dict[str, Any]:
    return {"v": 1, "seq": row.seq, "countersigned_at": row.signed_at, "signer_key_id": row.key_id,
            "message_sha256": hashlib.sha256(row.message).hexdigest(),
            "signer_signature_sha256": hashlib.sha256(row.signer_signature).hexdigest(),
            "server_key_id": row.server_key_id}
