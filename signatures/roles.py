"""The role catalogue: configured roles, each of one kind (admin, audit, business, system).

A user's roles are all of one kind (CN-1: administrators, auditors and business users
are separate people). Roles of kind `system` name the lanes that other systems work
through the API: only system accounts hold them, never a person, and they never sign.
Adding a role is an audited configuration change (A11-10).
"""
from __future__ import annotations

import re
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import clock
from signatures.accounts import require_admin
from signatures.errors import DuplicateRole, InvalidIdentityData, RoleConflict, UnknownRole
from signatures.models import Role, RoleKind
from store.uow import UnitOfWork

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def list_roles(session: Session) -> list[Role]:
    return list(session.execute(select(Role).order_by(Role.kind, Role.name)).scalars())


def get_role(session: Session, name: str) -> Role:
    role = session.get(Role, name)
    if role is None:
        raise UnknownRole(f"unknown role {name!r}")
    return role


def kind_of_roles(session: Session, names: Iterable[str]) -> RoleKind | None:
    """The one kind shared by `names`; RoleConflict if they mix kinds (CN-1)."""
    kinds = {RoleKind(get_role(session, name).kind) for name in names}
    if RoleKind.SYSTEM in kinds:
        raise RoleConflict("roles " + ", ".join(sorted(names)) + " include a system role: system roles are held by "
                           "system accounts only, never by a person")
    if len(kinds) > 1:
        raise RoleConflict("roles " + ", ".join(sorted(names)) + " mix kinds "
                           + ", ".join(sorted(k.value for k in kinds))
                           + ": administrator, audit and business roles may not be combined (CN-1)")
    return kinds.pop() if kinds else None


def add_role(uow: UnitOfWork, name: str, kind: RoleKind | str, label_en: str, label_zh: str,
             description: str, reason: str) -> Role:
    """Add a role to the catalogue (an audited configuration change). The actor must be an administrator."""
    require_admin(uow)
    if not ROLE_NAME.match(name or ""):
        raise InvalidIdentityData(f"invalid role name {name!r}: expected lower-case letters, digits and '_', 2-64 characters")
    try:
        kind = RoleKind(kind)
    except ValueError as exc:
        raise InvalidIdentityData(f"invalid role kind {kind!r}: expected admin, audit, business or system") from exc
    if not label_en.strip() or not label_zh.strip():
        raise InvalidIdentityData("a role needs an English and a Chinese label")
    if not (reason or "").strip():
        raise InvalidIdentityData("adding a role needs a reason")
    if uow.session.get(Role, name) is not None:
        raise DuplicateRole(f"role {name!r} exists already")
    role = Role(name=name, kind=kind.value, label_en=label_en.strip(), label_zh=label_zh.strip(),
                description=description.strip(), created_at=clock.now(), created_by=uow.actor.user_id)
    uow.session.add(role)
    uow.session.flush()
    uow.audit("role.created", "role", name, reason=reason,
              changes=[["kind", None, kind.value], ["label_en", None, role.label_en],
                       ["label_zh", None, role.label_zh], ["description", None, role.description]])
    return role
