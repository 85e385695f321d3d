"""Signature bundle export that stock OpenSSL verifies alone (URS-SIG-006).

`export_bundle(session, record_type, record_id, out_dir)` writes, per signature:

    sig-<seq>/message.bin                 the signed message bytes
    sig-<seq>/sig.bin                     the signer's 64-byte raw Ed25519 signature
    sig-<seq>/signer.pub.pem              the signer's public key (SubjectPublicKeyInfo PEM)
    sig-<seq>/countersignature-message.bin
    sig-<seq>/countersignature.bin        the server's 64-byte raw signature
    sig-<seq>/server.pub.pem
    sig-<seq>/signature.json              the stored fields, readable
    sig-<seq>/content.bin                 the record's canonical content (when the record is given)

and per signer an `accountability-<user>/` folder with the signed statement (same three
files), plus `manifest.json` (which says, per signature, where the record's canonical
content is) and `VERIFY.txt` (the stock-OpenSSL recipe of docs/signatures.md).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from signatures.accountability import get_statement
from signatures.errors import InvalidRecord, NoSignatures
from signatures.keys import public_pem
from signatures.models import Signature, SigningKey
from signatures.records import SignableRecord, check_record

NO_CONTENT = ("not in this bundle: pass the record to export_bundle, or take the canonical content of {record} "
              "version {version} from the system that holds it; its SHA-256 must equal content_sha256 in "
              "message.bin")
VERIFY_TEXT = """Verify each sig-<seq>/ folder with stock OpenSSL 3 and POSIX tools (docs/signatures.md):

  cd sig-<seq>
  openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin -in message.bin -sigfile sig.bin
  openssl pkeyutl -verify -pubin -inkey server.pub.pem -rawin -in countersignature-message.bin -sigfile countersignature.bin
  field() { tr -d '\\000' < "$2" | grep -o "\\"$1\\":\\"[^\\"]*\\"" | cut -d'"' -f4; }
  sha() { openssl dgst -sha256 -r "$1" | cut -c1-64; }
  keyhash() { openssl pkey -pubin -in "$1" -outform DER | tail -c 32 | openssl dgst -sha256 -r | cut -c1-64; }
  test "$(sha message.bin)" = "$(field message_sha256 countersignature-message.bin)"
  test "$(sha sig.bin)" = "$(field signer_signature_sha256 countersignature-message.bin)"
  test "$(keyhash signer.pub.pem | cut -c1-32)" = "$(field key_id message.bin)"
  test "$(keyhash server.pub.pem | cut -c1-16)" = "$(field server_key_id countersignature-message.bin)"
  test "$(sha content.bin)" = "$(field content_sha256 message.bin)"

Then compare server.pub.pem with the site's published keys (`gmp audit public-key`).
Where content.bin is absent, manifest.json says where the record's canonical content is.
"""


def _server_pem(row: Signature) -> bytes:
    return Ed25519PublicKey.from_public_bytes(row.server_public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def signature_fields(row: Signature) -> dict[str, Any]:
    return {"seq": row.seq, "record_type": row.record_type, "record_id": row.record_id,
            "record_version": row.record_version, "content_sha256": row.content_sha256, "signer_id": row.signer_id,
            "printed_name": row.printed_name, "meaning": row.meaning, "signed_at": row.signed_at,
            "components": json.loads(row.components), "reason": row.reason, "key_id": row.key_id,
            "server_key_id": row.server_key_id}


def export_bundle(session: Session, record_type: str, record_id: str, out_dir: Path | str,
                  record_version: int | None = None, records: Iterable[SignableRecord] = ()) -> Path:
    """Write the bundle; `records` are the signed record's versions, whose canonical content goes in."""
    from signatures.service import signatures_for

    contents: dict[int, bytes] = {}
    for given in records:
        rec = check_record(given)
        if (rec.record_type, rec.record_id) != (record_type, str(record_id)):
            raise InvalidRecord(f"{rec.record_type}/{rec.record_id} is not the record {record_type}/{record_id}")
        contents[rec.record_version] = rec.canonical_content()
    rows = signatures_for(session, record_type, record_id, record_version)
    if not rows:
        raise NoSignatures(f"{record_type}/{record_id} has no signature to export")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": "gmp-signature-bundle-v1", "record_type": record_type,
                                "record_id": record_id, "signatures": [], "accountability": []}
    signers = []
    for row in rows:
        folder = out / f"sig-{row.seq}"
        folder.mkdir(exist_ok=True)
        key = session.get(SigningKey, row.key_id)
        assert key is not None
        files = {"message.bin": row.message, "sig.bin": row.signer_signature, "signer.pub.pem": public_pem(key),
                 "countersignature-message.bin": row.countersignature_message,
                 "countersignature.bin": row.countersignature, "server.pub.pem": _server_pem(row)}
        content = contents.get(row.record_version)
        if content is not None:
            files["content.bin"] = content
            where = f"{folder.name}/content.bin"
        else:
            where = NO_CONTENT.format(record=f"{row.record_type}/{row.record_id}", version=row.record_version)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        fields = {**signature_fields(row), "canonical_content": where}
        (folder / "signature.json").write_text(json.dumps(fields, ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")
        manifest["signatures"].append({"folder": folder.name, **fields,
                                       "sha256": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}})
        if row.signer_id not in signers:
            signers.append(row.signer_id)
    for signer in signers:
        statement = get_statement(session, signer)
        if statement is None:
            continue
        key = session.get(SigningKey, statement.key_id)
        assert key is not None
        folder = out / f"accountability-{signer}"
        folder.mkdir(exist_ok=True)
        (folder / "message.bin").write_bytes(statement.message)
        (folder / "sig.bin").write_bytes(statement.signature)
        (folder / "signer.pub.pem").write_bytes(public_pem(key))
        manifest["accountability"].append({"folder": folder.name, "user_id": signer, "signed_at": statement.signed_at,
                                           "statement_en": statement.statement_en,
                                           "statement_zh": statement.statement_zh})
    (out / "VERIFY.txt").write_text(VERIFY_TEXT, encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out
