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
