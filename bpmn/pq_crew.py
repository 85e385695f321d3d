"""The people of a PQ scenario at work: TOTP codes, sign-ins, first signings, retried units of work.

A PQ scenario (validation_pack.pq) drives a process as its crews would at their terminals,
several batches at once. `PqCrew` is what the scenarios share: each person's next unused
TOTP code (`code`), one login session per person signed in with every component, the
password checked before the write transaction as the sign-in page does (`sign_in`), whether a
signing is the person's first in that session (`first_signing`), and a unit of work tried
again after a lock or serialisation conflict (`attempt`, `retrying`; counted in `retried`
and `refused`).
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator

from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork

RETRIES = 8


def is_conflict(exc: BaseException) -> bool:
    """A lock or serialisation conflict: the unit of work rolled back and may be tried again
    (SQLite's BEGIN IMMEDIATE is sent to the driver directly: its error comes unwrapped)."""
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    from engine.errors import ConcurrentUpdate

    if isinstance(exc, ConcurrentUpdate):
        return True
    text = str(exc).lower()
    return isinstance(exc, (DBAPIError, sqlite3.OperationalError)) and any(word in text for word in (
        "locked", "could not serialize", "deadlock", "busy", "lock not available"))


class PqCrew:
    """The scenario's people (`people`: key -> signatures.testing.Person) and their sessions."""

    def __init__(self) -> None:
        self.people: dict[str, Any] = {}
        self.sessions: dict[str, Any] = {}  # user id -> signatures.models.AuthSession
        self.signed: set[str] = set()  # user ids who signed in their session already
        self.last_step: dict[str, int] = {}
        self.lock = threading.Lock()
        self.user_locks: dict[str, threading.Lock] = {}
        self.start_lock = threading.Lock()
        self.retried = 0
        self.refused = 0

    def code(self, person: Any) -> str:
        """The next unused TOTP code of a person: the current step, or the next (inside the drift window)."""
        from signatures import totp

        with self.lock:
            now = totp.current_step(person.totp_secret, clock.now())
            step = max(now, self.last_step.get(person.user_id, 0) + 1)
            if step > now + 1:
                raise RuntimeError(f"{person.user_id} has no unused TOTP code before the next 30-second step")
            self.last_step[person.user_id] = step
            return totp.code_at_step(person.totp_secret, step)

    def sign_in(self, db: Database, settings: Settings, user: str) -> Any:
        """The person's session (signed in once with all components, as at the sign-in page: the
        password checked before the write transaction)."""
        from signatures.credentials import Credentials, login
        from signatures.precheck import precheck_login

        with self.start_lock:
            if user not in self.sessions:
                person = next(p for p in self.people.values() if p.user_id == user)
                code = self.code(person)
                checked = precheck_login(db, Credentials(person.user_id, person.password)).prechecked
                self.sessions[user] = self.attempt(db, person, lambda uow: login(
                    uow, person.user_id, person.password, code, settings, client="pq", prechecked=checked))
            return self.sessions[user]

    @contextlib.contextmanager
    def first_signing(self, user: str | None) -> Iterator[bool]:
        """Whether this signing is the person's first in their session (all components); the first is
        given by one crew while the others wait, then theirs need the password only."""
        if user is None:
            yield False
            return
        with self.lock:
            lock = self.user_locks.setdefault(user, threading.Lock())
        with lock:
            if user in self.signed:
                yield False
                return
            yield True
            self.signed.add(user)

    def attempt(self, db: Database, person: Any, fn: Callable[[UnitOfWork], Any]) -> Any:
        """One unit of work as `person`; again after a lock or serialisation conflict."""
        def once() -> Any:
            with UnitOfWork(db, person.actor) as uow:
                value = fn(uow)
                uow.commit()
            return value
        return self.retrying(once)

    def retrying(self, fn: Callable[[], Any]) -> Any:
        """`fn()`, again (up to RETRIES times, with a growing pause) after a lock or serialisation conflict."""
        for attempt in range(RETRIES):
            try:
                return fn()
            except Exception as exc:
                if not is_conflict(exc) or attempt == RETRIES - 1:
                    with self.lock:
                        self.refused += 1
                    raise
                with self.lock:
                    self.retried += 1
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")
