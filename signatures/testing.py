"""Helpers for test suites of any package: real, enrolled users through the real services.

Use with the `frozen_clock` fixture and cheap KDF parameters::

    from signatures import kdf, testing
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"])
        creds = testing.credentials(db, alice)   # user ID + password + a fresh TOTP code

A TOTP code is accepted once; `credentials()` returns the next unused one, which may be
at most one 30-second step ahead of the clock: advance the frozen clock by 30 seconds
between more than two ceremonies of the same user.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from audit.canonical import Actor
from core import clock
from core.config import Settings
from signatures import totp
from signatures.credentials import Credentials
from signatures.models import UserAccount
from store.db import Database
from store.uow import UnitOfWork

DEFAULT_PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    user_id: str
    printed_name: str
    password: str = field(repr=False)
    totp_secret: str = field(repr=False)

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.printed_name)


def fresh_totp_step(frozen: clock.FrozenClock) -> datetime:
    """Move a frozen clock to one second into the next 30-second TOTP step.

    Consecutive ceremonies are then exactly one step apart, so the earlier of two codes checked
    in one completion (a performer's and a verifier's) is still inside the one-step drift window.
    A fixed 31-second advance does not promise that: from 29 seconds into a step it skips two.
    """
    into_step = frozen.value.timestamp() % totp.PERIOD_SECONDS
    return frozen.advance(seconds=totp.PERIOD_SECONDS - into_step + 1)


def next_totp(db: Database, person: Person) -> str:
    """The next TOTP code the server will accept for this person (never a used one)."""
    with db.session() as session:
        user = session.get(UserAccount, person.user_id)
        last = (user.totp_last_step or 0) if user else 0
    now_step = totp.current_step(person.totp_secret, clock.now())
    step = max(last + 1, now_step)
    if step > now_step + 1:
        raise RuntimeError(f"no unused TOTP code for {person.user_id} yet: advance the clock by 30 seconds")
    return totp.code_at_step(person.totp_secret, step)


def credentials(db: Database, person: Person, with_totp: bool = True) -> Credentials:
    """The components of one ceremony, password checked before any write transaction opens
    (signatures.precheck): build them before the unit of work that signs."""
    from signatures.precheck import precheck_signing

    return precheck_signing(db, Credentials(person.user_id, person.password, next_totp(db, person) if with_totp else None))


def _enrol(db: Database, settings: Settings, user_id: str, secret: str, password: str) -> str:
    from signatures.enrolment import enrol, start_enrolment

    with db.session() as session:
        view = start_enrolment(session, user_id, secret)
    # the previous step (inside the drift window), so the next two ceremonies need no clock advance
    code = totp.code_at_step(view.totp_secret, totp.current_step(view.totp_secret, clock.now()) - 1)
    with UnitOfWork(db) as uow:
        enrol(uow, user_id, secret, password, code, settings)
        uow.commit()
    return view.totp_secret


def bootstrap_admin(db: Database, settings: Settings, user_id: str = "admin", printed_name: str = "Ada Admin",
                    password: str = DEFAULT_PASSWORD) -> Person:
    from signatures.identities import bootstrap_admin as _bootstrap

    with UnitOfWork(db) as uow:
        _, secret = _bootstrap(uow, user_id, printed_name, settings)
        uow.commit()
    return Person(user_id, printed_name, password, _enrol(db, settings, user_id, secret, password))


def enrolled_user(db: Database, settings: Settings, admin: Person, user_id: str, printed_name: str,
                  roles: list[str], password: str = DEFAULT_PASSWORD, verify_identity: bool = True,
                  accountability: bool = True) -> Person:
    """Create, enrol, verify identity and (if `accountability`) sign the accountability statement."""
    from signatures.identities import create_user
    from signatures.identities import verify_identity as _verify

    with UnitOfWork(db, admin.actor) as uow:
        _, secret = create_user(uow, user_id, printed_name, roles, settings)
        uow.commit()
    person = Person(user_id, printed_name, password, _enrol(db, settings, user_id, secret, password))
    if verify_identity:
        with UnitOfWork(db, admin.actor) as uow:
            _verify(uow, user_id, "identity document checked in person", "new starter")
            uow.commit()
    if accountability:
        from signatures.accountability import sign_statement

        components = credentials(db, person)
        with UnitOfWork(db, person.actor) as uow:
            sign_statement(uow, components, settings)
            uow.commit()
    return person
