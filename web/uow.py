"""One unit of work per request, acting as the signed-in user."""
from __future__ import annotations

from flask import current_app, g

from audit.canonical import SYSTEM, Actor
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork


def database() -> Database:
    return current_app.extensions["gmp.db"]  # type: ignore[no-any-return]


def settings() -> Settings:
    return current_app.extensions["gmp.settings"]  # type: ignore[no-any-return]


def current_actor() -> Actor:
    user = g.get("user")
    return user.actor if user is not None else SYSTEM


def unit_of_work(actor: Actor | None = None) -> UnitOfWork:
    """`with unit_of_work() as uow: ...; uow.commit()` — rolls back unless committed."""
    return UnitOfWork(database(), actor or current_actor())
