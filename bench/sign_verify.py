"""Signatures created and verified per second through the signatures service, as a ratio
to bare Ed25519 in the same run.

What is measured
- service sign: the public `signatures.service.sign_many(uow, records, meaning,
  credentials, None, settings)` followed by `uow.commit()`, one ceremony (all
  components, "no_session") and one unit of work (durable commit, SQLite
  synchronous=FULL) per --batch records: components (password, TOTP, lockout),
  role rules, identity verification, accountability statement, version and four-eyes
  rules, per record the canonical content and its SHA-256, the canonical signed
  message, the Ed25519 signature, the server countersignature, the signature row and
  its audit entry, and the commit.
- excluded: only the deliberate password cost, i.e. the time spent inside argon2id
  (password check and key unwrap, production parameters). The bench times those calls
  where they happen, during every ceremony, subtracts exactly that time from the
  ceremony and prints it separately.
- service verify: `verify_many(session, records, settings, required=True)` over the
  same --batch groups (queries, content hash, binding, column check, key ownership,
  signer signature, countersignature against the instance's trusted server keys).
- baseline: the bare Ed25519 operations one signature needs (sign message +
  countersign; verify both) with `cryptography`, over the same messages, timed batch by
  batch interleaved with the service (each signing ceremony is followed by the bare
  signing of its messages; verification alternates which goes first) so that the
  load of a shared machine hits both alike.
- one untimed warm-up ceremony (other record IDs) precedes the timed ones.

Last line: one JSON object {sign_ratio, verify_ratio, ...}. Goal >= 0.5 each.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from core.config import load_settings  # noqa: E402


class Span:
    """Elapsed (wall clock) and process CPU seconds, accumulated."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def add(self, started: tuple[float, float]) -> "Span":
        self.wall += time.perf_counter() - started[0]
        self.cpu += time.process_time() - started[1]
        return self

    def minus(self, other: "Span") -> "Span":
        result = Span()
        result.wall, result.cpu = self.wall - other.wall, self.cpu - other.cpu
        return result

    def plus(self, other: "Span") -> None:
        self.wall += other.wall
        self.cpu += other.cpu


def _start() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


class KdfTimer:
    """Accumulates the time spent inside argon2id (the deliberate password cost)."""

    def __init__(self) -> None:
        self.unwrap = Span()
        self.password = Span()
        self.unwrap_calls = 0
        self.password_calls = 0

    def total(self) -> Span:
        result = Span()
        result.plus(self.unwrap)
        result.plus(self.password)
        return result

    def install(self) -> None:
        from signatures import kdf

        derive, hasher = kdf.derive_key, kdf.password_hasher
        timer = self

        def timed_derive(*args: Any, **kwargs: Any) -> bytes:
            started = _start()
            try:
                return derive(*args, **kwargs)
            finally:
                timer.unwrap.add(started)
                timer.unwrap_calls += 1

        class TimedHasher:
            def __init__(self, inner: Any) -> None:
                self._inner = inner

            def verify(self, password_hash: str, password: str) -> bool:
                started = _start()
                try:
                    return bool(self._inner.verify(password_hash, password))
                finally:
                    timer.password.add(started)
                    timer.password_calls += 1

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        kdf.derive_key = timed_derive  # type: ignore[assignment]
        kdf.password_hasher = lambda parameters=None: TimedHasher(hasher(parameters))  # type: ignore[assignment]


def _timed(fn: Callable[[], Any]) -> Span:
    started = _start()
    fn()
    return Span().add(started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (well within a minute)")
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--batch", type=int, default=100, help="records signed per ceremony / unit of work")
    args = parser.parse_args()
    total = args.records or (600 if args.quick else 10000)
    batch = max(1, min(args.batch, total))

    from signatures import kdf, testing
    from signatures.meanings import Meaning
    from signatures.records import SimpleRecord
    from signatures.service import sign_many, verify_many
    from store.db import Database
    from store.migrate import upgrade
    from store.uow import UnitOfWork

    def record(prefix: str, n: int) -> SimpleRecord:
        return SimpleRecord("deviation", f"{prefix}-{n:07d}", 1, {"number": n, "title": f"deviation {n}",
                                                                  "assessment": "minor", "batch": "B-2026-001"})

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
        timer = KdfTimer()
        timer.install()

        def ceremony(chunk: list[SimpleRecord]) -> tuple[Span, Span, list[tuple[bytes, bytes]]]:
            """One signing ceremony through the service: (time without argon2id, argon2id time, messages)."""
            creds = testing.credentials(db, signer)  # what the signer types (TOTP from their device)
            kdf_before = timer.total()
            started = _start()
            with UnitOfWork(db, signer.actor) as uow:
                signed = sign_many(uow, chunk, Meaning.ASSESSED, creds, None, settings)
                uow.commit()
            elapsed = Span().add(started)
            kdf_spent = timer.total().minus(kdf_before)
            # a TOTP code is accepted once per 30-second step: move the bench's clock on
            _advance_clock(30)
            return elapsed.minus(kdf_spent), kdf_spent, [(s.message, s.countersignature_message) for s in signed]

        ceremony([record("W", n) for n in range(batch)])  # warm-up, untimed
        timer.__init__()  # type: ignore[misc]

        records = [record("D", n) for n in range(total)]
        chunks = [records[start:start + batch] for start in range(0, total, batch)]
        user_key, server_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        user_pub, server_pub = user_key.public_key(), server_key.public_key()
        sign_time, bare_sign, kdf_time = Span(), Span(), Span()
        bare_sigs: list[list[tuple[bytes, bytes, bytes, bytes]]] = []
        for chunk in chunks:
            spent, kdf_spent, messages = ceremony(chunk)
            sigs: list[tuple[bytes, bytes, bytes, bytes]] = []
            bare_sign.plus(_timed(lambda: sigs.extend((m, c, user_key.sign(m), server_key.sign(c))
                                                      for m, c in messages)))
            sign_time.plus(spent)
            kdf_time.plus(kdf_spent)
            bare_sigs.append(sigs)

        with db.session() as session:
            verify_time, bare_verify = Span(), Span()
            for index, (chunk, sigs) in enumerate(zip(chunks, bare_sigs)):
                def service() -> None:
                    verify_many(session, chunk, settings, required=True)

                def bare_check() -> None:
                    for m, c, s1, s2 in sigs:
                        user_pub.verify(s1, m)
                        server_pub.verify(s2, c)

                if index % 2:
                    verify_time.plus(_timed(service))
                    bare_verify.plus(_timed(bare_check))
                else:
                    bare_verify.plus(_timed(bare_check))
                    verify_time.plus(_timed(service))
        db.dispose()

    ceremonies = len(chunks)
    result = {
        "records": total, "batch": batch,
        "service_sign_per_s": round(total / sign_time.wall, 1), "bare_sign_per_s": round(total / bare_sign.wall, 1),
        "service_verify_per_s": round(total / verify_time.wall, 1),
        "bare_verify_per_s": round(total / bare_verify.wall, 1),
        "sign_ratio": round(bare_sign.wall / sign_time.wall, 3),
        "verify_ratio": round(bare_verify.wall / verify_time.wall, 3),
        "cpu_sign_ratio": round(bare_sign.cpu / sign_time.cpu, 3),
        "cpu_verify_ratio": round(bare_verify.cpu / verify_time.cpu, 3),
        "kdf_unwrap_ms": round(timer.unwrap.wall / max(1, timer.unwrap_calls) * 1000, 1),
        "password_verify_ms": round(timer.password.wall / max(1, timer.password_calls) * 1000, 1),
        "kdf_excluded_ms_per_ceremony": round(kdf_time.wall / ceremonies * 1000, 1),
        "kdf_profile": kdf.current().profile,
    }
    print(f"password KDF (argon2id, excluded from the rates): unwrap {result['kdf_unwrap_ms']} ms, password check "
          f"{result['password_verify_ms']} ms; {result['kdf_excluded_ms_per_ceremony']} ms per ceremony of {batch} "
          "records")
    print(f"sign:   service {result['service_sign_per_s']}/s vs bare Ed25519 {result['bare_sign_per_s']}/s "
          f"(CPU-time ratio {result['cpu_sign_ratio']})")
    print(f"verify: service {result['service_verify_per_s']}/s vs bare Ed25519 {result['bare_verify_per_s']}/s "
          f"(CPU-time ratio {result['cpu_verify_ratio']})")
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
