"""Cost parameters of the password hash and of the key-wrapping KDF (both argon2id).

Production uses `PRODUCTION`. Test suites may switch to `UNSAFE_FAST_FOR_TESTS` with
`use_parameters(UNSAFE_FAST_FOR_TESTS)` (or the `unsafe_fast_kdf()` context manager):
the name says what it is. The parameters of every stored hash and wrapped key are
stored with it, so verification never depends on the current setting, and a key or
hash made under the unsafe profile is recognisable (`profile` in the stored JSON).
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Iterator

from argon2 import PasswordHasher, Type
from argon2.low_level import hash_secret_raw


@dataclass(frozen=True)
class KdfParameters:
    profile: str
    time_cost: int
    memory_kib: int
    parallelism: int

    def as_dict(self) -> dict[str, object]:
        return {"alg": "argon2id", **asdict(self)}


PRODUCTION = KdfParameters("production", time_cost=2, memory_kib=47104, parallelism=1)  # above OWASP minimums
UNSAFE_FAST_FOR_TESTS = KdfParameters("UNSAFE-fast-for-tests", time_cost=1, memory_kib=64, parallelism=1)

_current = PRODUCTION


def current() -> KdfParameters:
    return _current


def use_parameters(parameters: KdfParameters) -> None:
    global _current
    _current = parameters


@contextlib.contextmanager
def unsafe_fast_kdf() -> Iterator[None]:
    """For test suites only: cheap argon2id parameters while the block runs."""
    previous = _current
    use_parameters(UNSAFE_FAST_FOR_TESTS)
    try:
        yield
    finally:
        use_parameters(previous)


def password_hasher(parameters: KdfParameters | None = None) -> PasswordHasher:
    p = parameters or _current
    return PasswordHasher(time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism,
                          hash_len=32, salt_len=16, type=Type.ID)


def derive_key(password: str, salt: bytes, params: dict[str, object]) -> bytes:
    """32-byte wrapping key from the password with the stored parameters."""
    if params.get("alg") != "argon2id":
        raise ValueError(f"unsupported KDF {params.get('alg')!r}")
    return hash_secret_raw(password.encode("utf-8"), salt, time_cost=int(params["time_cost"]),  # type: ignore[arg-type]
                           memory_cost=int(params["memory_kib"]), parallelism=int(params["parallelism"]),  # type: ignore[arg-type]
                           hash_len=32, type=Type.ID)
