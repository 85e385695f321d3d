"""The role x URL matrix: every route is listed, rules are well-formed, the guard fails closed."""
from __future__ import annotations

from pathlib import Path

import pytest

from web.access import MatrixError, load_matrix, parse_rule

pytestmark = pytest.mark.req("URS-WEB-004", "P11-10g")


def test_every_route_is_in_the_matrix_and_no_stale_entries(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    matrix = load_matrix()
    assert sorted(endpoints - set(matrix)) == [], "routes missing from web/access_matrix.yaml"
    assert sorted(set(matrix) - endpoints) == [], "matrix entries without a route"


def test_route_missing_from_the_matrix_is_refused(app):
    from web.access import rule_for
    from web.errors import RouteNotInMatrix

    with pytest.raises(RouteNotInMatrix, match="'ghost.page' is not in the access matrix"):
        rule_for("ghost.page")


@pytest.mark.parametrize("value,message", [
    ("everyone", "expected 'public', 'signed_in' or a list of roles"),
    ([], "expected 'public'"),
    (["operator", 3], "expected 'public'"),
    (["kind:root"], r"unknown role kind\(s\) \['root'\]"),
])
def test_malformed_rules_are_refused(value, message):
    with pytest.raises(MatrixError, match=message):
        parse_rule("x.y", value)


def test_malformed_matrix_file_is_refused(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("routes: {}\n")
    with pytest.raises(MatrixError, match="expected a mapping 'endpoints'"):
        load_matrix(path)


def test_rules_combine_roles_and_kinds():
    rule = parse_rule("x.y", ["qa", "kind:audit"])
    assert rule.allows(frozenset({"qa"}), "business") and rule.allows(frozenset({"auditor"}), "audit")
    assert not rule.allows(frozenset({"operator"}), "business") and not rule.allows(frozenset(), None)
    assert parse_rule("x.y", "signed_in").allows(frozenset(), None)


# ---------------------------------------------------------------- the whole matrix, role by role
SAMPLE_ARGS = {"int": 1, "integer": 1, "string": "sample", "path": "css/app.css", "default": "sample"}


def sample_url(app, rule) -> str:  # type: ignore[no-untyped-def]
    args = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__.lower().replace("converter", "")
        args[name] = SAMPLE_ARGS.get(kind, "sample")
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **args)


def roles_to_walk(matrix) -> set[str]:  # type: ignore[no-untyped-def]
    """Every role named in the matrix, plus one role of each kind that no rule names
    (so rules written by kind, and the default refusal, are walked too)."""
    from signatures.catalogue import SEED_ROLES

    named = {role for rule in matrix.values() for role in rule.roles}
    walk = set(named)
    for kind in ("admin", "audit", "business"):
        unnamed = sorted(r for r, spec in SEED_ROLES.items() if spec[0] == kind and r not in named)
        if unnamed:
            walk.add(unnamed[0])
    return walk


@pytest.fixture
def role_users(db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    from signatures import kdf, testing

    matrix = load_matrix()
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        users = {"admin": admin}
        for role in sorted(roles_to_walk(matrix) - {"admin"}):
            users[role] = testing.enrolled_user(db, settings, admin, f"u_{role}", f"User {role}", [role],
                                                verify_identity=False, accountability=False)
    return users


def open_session(db, client, person) -> None:  # type: ignore[no-untyped-def]
    from signatures.models import UserAccount
    from signatures.sessions import create_session
    from store.uow import UnitOfWork

    with UnitOfWork(db, person.actor) as uow:
        row = create_session(uow.session, uow.session.get(UserAccount, person.user_id))
        uow.commit()
    with client.session_transaction() as sess:
        sess.clear()
        sess["sid"] = row.id
        sess["csrf_token"] = "walk-token"


# The walk checks who may use each endpoint, not what it does: where an allowed request would start
# work in the background, the walk's form makes it refuse first (a build from a pack that does not
# exist), so that no validation build runs beside the rest of the suite.
WALK_FORM = {"validation.build": {"from_pack": "no-such-pack"}}


@pytest.mark.slow
@pytest.mark.req("URS-WEB-004", "P11-10g", "CN-1", "CN-2")
def test_walk_the_whole_matrix(app, db, role_users):
    from sqlalchemy import func, select

    from audit.models import AuditEntry
    from signatures.catalogue import SEED_ROLES

    matrix = load_matrix()
    client = app.test_client()
    refused_cells = 0
    failures = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        assert rule.endpoint in matrix, f"{rule.endpoint} is missing from web/access_matrix.yaml"
        cell = matrix[rule.endpoint]
        url = sample_url(app, rule)
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        if cell.token:  # the API: a signed-in session is never a credential (tests/api walks the scopes)
            for person in (role_users["admin"], role_users[sorted(role_users)[-1]]):
                open_session(db, client, person)
                response = client.open(url, method=method)
                if response.status_code != 401:
                    failures.append(f"{method} {url} with the session of {person.user_id}: {response.status_code}")
            continue
        for role, person in sorted(role_users.items()):
            open_session(db, client, person)
            response = client.open(url, method=method,
                                   data={"csrf_token": "walk-token", **WALK_FORM.get(rule.endpoint, {})})
            allowed = cell.allows(frozenset({role}), SEED_ROLES[role][0])
            if allowed == (response.status_code == 403):
                failures.append(f"{method} {url} as {role}: {response.status_code} (allowed={allowed})")
            refused_cells += not allowed
        with client.session_transaction() as sess:
            sess.clear()
            sess["csrf_token"] = "walk-token"
        anonymous = client.open(url, method=method, data={"csrf_token": "walk-token"})
        if cell.public == (anonymous.status_code == 302 and "/sign-in" in anonymous.headers.get("Location", "")):
            failures.append(f"{method} {url} anonymous: {anonymous.status_code}")
    assert failures == []
    with db.session() as s:
        recorded = s.execute(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "access.refused")).scalar_one()
    assert recorded == refused_cells
    with db.session() as s:  # the walk started no validation build in the background
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "validation_pack.build_started")).scalar_one() == 0
