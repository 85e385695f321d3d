"""The role x URL matrix (web/access_matrix.yaml) and the guard that enforces it on the server (P11-10g).

Every endpoint of the application must be listed; an endpoint that is not is refused
(fail closed) and a test fails. A rule is `public` (no sign-in), `signed_in` (any
signed-in user), or a list of role names and role kinds (`kind:admin`, `kind:audit`,
`kind:business`). A refused attempt answers 403 and is recorded in the audit trail (CN-2).

The API for other systems (/api/v1) is not used with a session: its rules are `token`
(any valid API token) or a list of scopes (`scope:tasks:read`); the bearer token is
checked by web.api.auth, and a signed-in session never satisfies such a rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, g, request

from web.errors import RoleRefused, RouteNotInMatrix, SignInRequired

MATRIX_FILE = Path(__file__).resolve().parent / "access_matrix.yaml"
PUBLIC, SIGNED_IN, TOKEN = "public", "signed_in", "token"


class MatrixError(ValueError):
    """The matrix file itself is malformed (a start-up error)."""


@dataclass(frozen=True)
class Rule:
    endpoint: str
    public: bool = False
    any_signed_in: bool = False
    roles: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    token: bool = False  # an API rule: a bearer token with every scope in `scopes`
    scopes: frozenset[str] = frozenset()

    def allows(self, roles: frozenset[str], kind: str | None) -> bool:
        if self.token:
            return False  # a session is never an API credential
        if self.public or self.any_signed_in:
            return True
        return bool(self.roles & roles) or (kind is not None and kind in self.kinds)


def parse_rule(endpoint: str, value: Any) -> Rule:
    if value == PUBLIC:
        return Rule(endpoint, public=True)
    if value == SIGNED_IN:
        return Rule(endpoint, any_signed_in=True)
    if value == TOKEN:
        return Rule(endpoint, token=True)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise MatrixError(f"{endpoint}: expected 'public', 'signed_in' or a list of roles, found {value!r}")
    scopes = {v.split(":", 1)[1] for v in value if v.startswith("scope:")}
    if scopes:
        if len(scopes) != len(value):
            raise MatrixError(f"{endpoint}: API scopes and roles may not be mixed in one rule")
        return Rule(endpoint, token=True, scopes=frozenset(scopes))
    kinds = {v.split(":", 1)[1] for v in value if v.startswith("kind:")}
    bad = kinds - {"admin", "audit", "business"}
    if bad:
        raise MatrixError(f"{endpoint}: unknown role kind(s) {sorted(bad)}")
    return Rule(endpoint, roles=frozenset(v for v in value if not v.startswith("kind:")), kinds=frozenset(kinds))


@lru_cache(maxsize=4)
def load_matrix(path: Path = MATRIX_FILE) -> dict[str, Rule]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    endpoints = document.get("endpoints")
    if not isinstance(endpoints, dict):
        raise MatrixError(f"{path.name}: expected a mapping 'endpoints'")
    return {name: parse_rule(name, value) for name, value in endpoints.items()}


def rule_for(endpoint: str) -> Rule:
    rule = load_matrix().get(endpoint)
    if rule is None:
        raise RouteNotInMatrix(f"the page {endpoint!r} is not in the access matrix and is refused")
    return rule


def guard() -> None:
    endpoint = request.endpoint
    if endpoint is None or request.routing_exception is not None:
        return  # no route (404/405): the error handler answers
    rule = rule_for(endpoint)
    if rule.public:
        return
    if rule.token:
        from web.api.auth import authorise

        authorise(rule.scopes)
        return
    user = g.get("user")
    if user is None:
        raise SignInRequired(g.get("session_ended") or "please sign in")
    if not rule.allows(user.roles, user.kind):
        from web.uow import unit_of_work

        with unit_of_work() as uow:  # rolled back: only the refusal is written
            uow.record_refusal("access.refused", "page", endpoint, reason="role not permitted",
                               details={"method": request.method, "path": request.path, "roles": sorted(user.roles)})
        raise RoleRefused("your roles do not allow this page")


def init_app(app: Flask) -> None:
    load_matrix()
    app.before_request(guard)
