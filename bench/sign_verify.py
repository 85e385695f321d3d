"""Signatures created and verified per second through the signatures service, as a ratio
to bare Ed25519 in the same run.

What is measured
- service sign: `signatures.service.sign_many` path after the ceremony: per record the
  canonical content and its SHA-256, version and four-eyes query, canonical signed
  message, Ed25519 signature, server countersignature, the signature row and its
  audit entry; one unit of work (durable commit, SQLite synchronous=FULL) per ceremony
  of --batch records. The deliberate password cost (argon2id password check and key
  unwrap, production parameters) is excluded from the rate and printed separately.
- service verify: `verify_many(session, records, settings)` over the same --batch groups
  (queries, content hash, binding, column check, signer signature, countersignature).
- baseline: the bare Ed25519 operations one signature needs (sign message +
  countersign; verify both), with `cryptography`, over the same messages.

Last line: one JSON object {sign_ratio, verify_ratio, ...}. Goal >= 0.5 each.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from core.config import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (well within a minute)")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--batch", type=int, default=100, help="records signed per ceremony / unit of work")
    args = parser.parse_args()
    total = args.records or (600 if args.quick else 10000)
    batch = max(1, min(args.batch, total))

    from signatures import kdf, testing
    from signatures.credentials import authenticate
    from signatures.keys import current_key, unwrap_private_key
    from signatures.meanings import Meaning
    from signatures.models import UserAccount
    from signatures.records import SimpleRecord
    from signatures.service import _check_record_rules, _sign_unwrapped, existing_signatures, verify_many
    from store.db import Database
    from store.migrate import upgrade
    from store.uow import UnitOfWork

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        settings = load_settings({"instance_path": str(instance), "database_url": f"sqlite:///{instance}/bench.sqlite3",
                                  "secret_key": "bench-secret-key-0123456789abcdef0123",
                                  "server_key_passphrase": "bench passphrase"}, environ={})
        upgrade(settings.database_url)
        db = Database(settings.database_url)
        kdf.use_parameters(kdf.PRODUCTION)
        admin = testing.bootstrap_admin(db, settings)
        signer = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])

        # the deliberate password cost, measured on its own (production argon2id parameters)
        with db.session() as session:
            key = current_key(session, "quinn")
            started = time.perf_counter()
            rounds = 3
            for _ in range(rounds):
                unwrap_private_key(key, signer.password)
            unwrap_seconds = (time.perf_counter() - started) / rounds
            user = session.get(UserAccount, "quinn")
            started = time.perf_counter()
            for _ in range(rounds):
                kdf.password_hasher().verify(user.password_hash, signer.password)
            password_seconds = (time.perf_counter() - started) / rounds

        records = [SimpleRecord("deviation", f"D-{n:07d}", 1, {"number": n, "title": f"deviation {n}",
                                                               "assessment": "minor", "batch": "B-2026-001"})
                   for n in range(total)]

        # service signing: one ceremony (components + unwrap, excluded) per batch, then the signing path
        sign_time = 0.0
        ceremony_time = 0.0
        for start in range(0, total, batch):
            chunk = records[start:start + batch]
            creds = testing.credentials(db, signer)
            with UnitOfWork(db, signer.actor) as uow:
                t0 = time.perf_counter()
                user = authenticate(uow, creds.username, creds.password, creds.totp, settings,
                                    action="signature.refused")
                key = current_key(uow.session, user.user_id)
                private = unwrap_private_key(key, creds.password)
                t1 = time.perf_counter()
                seen: set[tuple[str, str, int]] = set()
                details = {"meaning": "assessed", "ceremony": "no_session", "records": len(chunk)}
                existing = existing_signatures(uow.session, chunk)
                for rec in chunk:
                    _check_record_rules(uow, rec, Meaning.ASSESSED.value, user.user_id, None, signer.actor, details,
                                        seen, existing.get((rec.record_type, rec.record_id), []))
                _sign_unwrapped(uow, chunk, Meaning.ASSESSED.value, user, key, private, settings, "no_session", True,
                                None, None, details)
                uow.commit()
                t2 = time.perf_counter()
            ceremony_time += t1 - t0
            sign_time += t2 - t1
            # a TOTP code is accepted once per 30-second step: move the bench's clock on
            _advance_clock(30)

        # service verification
        with db.session() as session:
            t0 = time.perf_counter()
            for start in range(0, total, batch):
                verify_many(session, records[start:start + batch], settings, required=True)
            verify_time = time.perf_counter() - t0
            from sqlalchemy import select

            from signatures.models import Signature

            rows = list(session.execute(select(Signature.message, Signature.countersignature_message)).all())

        # baseline: bare Ed25519, the same two operations per signature, same messages
        user_key, server_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        t0 = time.perf_counter()
        sigs = [(user_key.sign(m), server_key.sign(c)) for m, c in rows]
        bare_sign = time.perf_counter() - t0
        user_pub, server_pub = user_key.public_key(), server_key.public_key()
        t0 = time.perf_counter()
        for (m, c), (s1, s2) in zip(rows, sigs):
            user_pub.verify(s1, m)
            server_pub.verify(s2, c)
        bare_verify = time.perf_counter() - t0
        db.dispose()

    result = {
        "records": total, "batch": batch,
        "service_sign_per_s": round(total / sign_time, 1), "bare_sign_per_s": round(total / bare_sign, 1),
        "service_verify_per_s": round(total / verify_time, 1), "bare_verify_per_s": round(total / bare_verify, 1),
        "sign_ratio": round((total / sign_time) / (total / bare_sign), 3),
        "verify_ratio": round((total / verify_time) / (total / bare_verify), 3),
        "kdf_unwrap_ms": round(unwrap_seconds * 1000, 1), "password_verify_ms": round(password_seconds * 1000, 1),
        "ceremony_ms": round(ceremony_time / max(1, -(-total // batch)) * 1000, 1),
        "kdf_profile": kdf.current().profile,
    }
    print(f"password KDF (excluded from the rates): unwrap {result['kdf_unwrap_ms']} ms, password check "
          f"{result['password_verify_ms']} ms, whole ceremony {result['ceremony_ms']} ms per {batch} records")
    print(f"sign:   service {result['service_sign_per_s']}/s vs bare Ed25519 {result['bare_sign_per_s']}/s")
    print(f"verify: service {result['service_verify_per_s']}/s vs bare Ed25519 {result['bare_verify_per_s']}/s")
    print(json.dumps(result))


_offset = 0.0


def _advance_clock(seconds: float) -> None:
    from datetime import timedelta

    from core import clock

    global _offset
    _offset += seconds
    offset = timedelta(seconds=_offset)
    clock.set_clock(lambda: clock._system_now() + offset)


if __name__ == "__main__":
    main()
