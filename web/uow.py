"""One unit of work per request, acting as the signed-in user."""
from __future__ import annotations

from flask import current_app, g, has_request_context, request

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


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def unit_of_work(actor: Actor | None = None, *, read_only: bool | None = None) -> UnitOfWork:
    """`with unit_of_work() as uow: ...; uow.commit()` — rolls back unless committed.

    A GET (or HEAD) request reads in a read-only transaction unless `read_only=False`:
    pages never take the database's write lock, so they neither wait for a signing in
    progress nor hold one up.
    """
    if read_only is None:
        read_only = has_request_context() and request.method in READ_METHODS
    return UnitOfWork(database(), actor or current_actor(), read_only=read_only)
