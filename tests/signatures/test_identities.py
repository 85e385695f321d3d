"""Identities, roles and access administration."""
from datetime import date

import pytest
from sqlalchemy import select, text

from audit.canonical import Actor
from signatures import identities, roles
from signatures.errors import (
    AccountStateError,
    BootstrapRefused,
    DuplicateRole,
    DuplicateUser,
    InvalidIdentityData,
    NotAuthorised,
    RoleConflict,
    UnknownRole,
    UnknownUser,
)
from signatures.models import AccessReview, Role, RoleKind, UserStatus
from store.uow import UnitOfWork
from tests.signatures.helpers import actions, last_entry

SEEDED_BUSINESS = ["operator", "supervisor", "qa", "qp", "qc", "validation", "planner", "ehs_officer", "area_owner",
                   "gas_tester", "isolation_authority", "trainer", "training_coordinator", "metrology", "technician",
                   "purchasing", "document_control", "author", "reviewer", "supplier_auditor", "investigator",
                   "requester"]


def as_admin(db, admin):
    return UnitOfWork(db, admin.actor)


@pytest.mark.req("URS-IDN-002", "CN-1")
def test_seeded_catalogue_has_kinds(db):
    with db.session() as s:
        kinds = {r.name: r.kind for r in roles.list_roles(s)}
    assert kinds["admin"] == "admin" and kinds["auditor"] == "audit"
    assert all(kinds[name] == "business" for name in SEEDED_BUSINESS)


@pytest.mark.req("URS-IDN-001", "URS-IDN-003", "A11-12", "CN-2")
def test_create_user_is_pending_and_audited(db, settings, admin):
    with as_admin(db, admin) as uow:
        user, secret = identities.create_user(uow, "olga", "Olga Operator", ["operator"], settings,
                                              expires_on=date(2027, 1, 1), reason="new starter")
        uow.commit()
    assert len(secret.replace("-", "")) == 24
    with db.session() as s:
        user = identities.get_user(s, "olga")
        assert user.status == UserStatus.PENDING_ENROLMENT.value
        assert user.password_hash is None and user.printed_name == "Olga Operator"
        assert identities.roles_of(s, "olga") == {"operator"}
        assert identities.role_kind_of(s, "olga") is RoleKind.BUSINESS
        assert identities.actor_for(user) == Actor("olga", "Olga Operator")
    assert actions(db, "olga") == ["user.created", "role.granted", "enrolment.issued"]
    entry = last_entry(db, "role.granted")
    assert entry.actor_id == "admin" and '"operator"' in entry.changes


@pytest.mark.req("URS-IDN-001", "P11-100a")
def test_user_id_never_reused_even_after_deactivation(db, settings, admin):
    with as_admin(db, admin) as uow:
        identities.create_user(uow, "olga", "Olga Operator", ["operator"], settings)
        uow.commit()
    with as_admin(db, admin) as uow:
        identities.deactivate_user(uow, "olga", "left the company")
        uow.commit()
    with as_admin(db, admin) as uow:
        with pytest.raises(DuplicateUser, match="never be reused"):
            identities.create_user(uow, "olga", "Olga Other", ["qa"], settings)
    with db.session() as s:
        assert identities.get_user(s, "olga").printed_name == "Olga Operator"
        assert identities.get_user(s, "olga").status == "deactivated"
    with as_admin(db, admin) as uow:
        with pytest.raises(AccountStateError, match="deactivated already"):
            identities.deactivate_user(uow, "olga", "again")


@pytest.mark.req("URS-IDN-002", "CN-1")
@pytest.mark.parametrize("combo", [["admin", "operator"], ["auditor", "qa"], ["admin", "auditor"]])
def test_role_kinds_cannot_be_combined(db, settings, admin, combo):
    with as_admin(db, admin) as uow:
        with pytest.raises(RoleConflict, match="CN-1"):
            identities.create_user(uow, "mixed", "Mixed User", combo, settings)
    with db.session() as s:
        with pytest.raises(UnknownUser, match="mixed"):
            identities.get_user(s, "mixed")


@pytest.mark.req("URS-IDN-002", "URS-IDN-003", "CN-1", "A11-12")
def test_grant_and_revoke_roles(db, settings, admin):
    with as_admin(db, admin) as uow:
        identities.create_user(uow, "quinn", "Quinn QA", ["qa"], settings)
        uow.commit()
    with as_admin(db, admin) as uow:
        identities.grant_role(uow, "quinn", "reviewer", "covers document review")
        uow.commit()
    with as_admin(db, admin) as uow:
        with pytest.raises(RoleConflict, match="may not be combined"):
            identities.grant_role(uow, "quinn", "admin", "promotion")
    with as_admin(db, admin) as uow:
        identities.revoke_role(uow, "quinn", "qa", "moved to production")
        uow.commit()
    with db.session() as s:
        assert identities.roles_of(s, "quinn") == {"reviewer"}
    assert actions(db, "quinn")[-2:] == ["role.granted", "role.revoked"]
    with as_admin(db, admin) as uow:
        with pytest.raises(UnknownRole, match="does not hold"):
            identities.revoke_role(uow, "quinn", "qa", "again")
        with pytest.raises(AccountStateError, match="already"):
            identities.grant_role(uow, "quinn", "reviewer", "again")
        with pytest.raises(InvalidIdentityData, match="needs a reason"):
            identities.grant_role(uow, "quinn", "qc", " ")
        with pytest.raises(NotAuthorised, match="own roles"):
            identities.revoke_role(uow, "admin", "admin", "self")


@pytest.mark.req("URS-IDN-012", "P11-10g")
def test_only_administrators_administer(db, settings, admin):
    with as_admin(db, admin) as uow:
        identities.create_user(uow, "olga", "Olga Operator", ["operator"], settings)
        uow.commit()
    with UnitOfWork(db, Actor("olga", "Olga Operator")) as uow:
        with pytest.raises(NotAuthorised, match="not an active administrator"):
            identities.create_user(uow, "eve", "Eve", ["qa"], settings)
        with pytest.raises(NotAuthorised, match="not an active administrator"):
            roles.add_role(uow, "brewer", "business", "Brewer", "酿造师", "", "new process")


@pytest.mark.req("URS-IDN-001")
@pytest.mark.parametrize("user_id,name,role_names,match", [
    ("Bad Name", "X", ["qa"], "invalid user ID"),
    ("x", "X", ["qa"], "invalid user ID"),
    ("okay", "  ", ["qa"], "printed full name"),
    ("okay", "Okay", [], "at least one role"),
    ("okay", "Okay", ["wizard"], "unknown role"),
])
def test_create_user_rejects_bad_input(db, settings, admin, user_id, name, role_names, match):
    with as_admin(db, admin) as uow:
        with pytest.raises((InvalidIdentityData, UnknownRole), match=match):
            identities.create_user(uow, user_id, name, role_names, settings)


@pytest.mark.req("URS-IDN-001")
def test_expiry_in_past_refused(db, settings, admin):
    with as_admin(db, admin) as uow:
        with pytest.raises(InvalidIdentityData, match="in the past"):
            identities.create_user(uow, "olga", "Olga", ["operator"], settings, expires_on=date(2020, 1, 1))


@pytest.mark.req("URS-IDN-002", "A11-10")
def test_add_role_is_audited_configuration_change(db, admin):
    with as_admin(db, admin) as uow:
        roles.add_role(uow, "brewer", "business", "Brewer", "酿造师", "Brews", "new fermentation process")
        uow.commit()
    with db.session() as s:
        assert s.get(Role, "brewer").kind == "business"
    entry = last_entry(db, "role.created")
    assert entry.reason == "new fermentation process" and entry.actor_id == "admin"
    with as_admin(db, admin) as uow:
        with pytest.raises(DuplicateRole, match="exists already"):
            roles.add_role(uow, "brewer", "business", "Brewer", "酿造师", "", "again")
        with pytest.raises(InvalidIdentityData, match="invalid role kind"):
            roles.add_role(uow, "taster", "wizard", "Taster", "品尝师", "", "x")
        with pytest.raises(InvalidIdentityData, match="invalid role name"):
            roles.add_role(uow, "Taster!", "business", "Taster", "品尝师", "", "x")
        with pytest.raises(InvalidIdentityData, match="needs a reason"):
            roles.add_role(uow, "taster", "business", "Taster", "品尝师", "", "")
        with pytest.raises(InvalidIdentityData, match="Chinese label"):
            roles.add_role(uow, "taster", "business", "Taster", "", "", "x")


@pytest.mark.req("URS-IDN-012", "CN-1")
def test_bootstrap_only_without_administrator(db, settings, admin):
    with UnitOfWork(db) as uow:
        with pytest.raises(BootstrapRefused, match="exists already"):
            identities.bootstrap_admin(uow, "second", "Second Admin", settings)


@pytest.mark.req("URS-IDN-005", "P11-100b", "URS-IDN-003")
def test_identity_verification_recorded(db, settings, admin, frozen_clock):
    with as_admin(db, admin) as uow:
        identities.create_user(uow, "olga", "Olga Operator", ["operator"], settings)
        uow.commit()
    with as_admin(db, admin) as uow:
        identities.verify_identity(uow, "olga", "passport checked in person", "new starter")
        uow.commit()
    with db.session() as s:
        user = identities.get_user(s, "olga")
        assert user.identity_verified_by == "admin"
        assert user.identity_verified_at == frozen_clock.value
        assert user.identity_verification_method == "passport checked in person"
    with as_admin(db, admin) as uow:
        with pytest.raises(InvalidIdentityData, match="needs the method"):
            identities.verify_identity(uow, "olga", " ", "x")
        with pytest.raises(NotAuthorised, match="their own identity"):
            identities.verify_identity(uow, "admin", "mirror", "x")


@pytest.mark.req("URS-IDN-010", "P11-300b")
def test_access_review_recorded_with_snapshot(db, settings, admin):
    with as_admin(db, admin) as uow:
        identities.create_user(uow, "olga", "Olga Operator", ["operator"], settings)
        uow.commit()
    with as_admin(db, admin) as uow:
        identities.record_access_review(uow, "quarterly review: no findings")
        uow.commit()
    with db.session() as s:
        review = s.execute(select(AccessReview)).scalar_one()
        assert '"olga"' in review.snapshot and '"operator"' in review.snapshot
        assert review.reviewer_id == "admin"
    assert "access_review.recorded" in actions(db)
    with as_admin(db, admin) as uow:
        with pytest.raises(InvalidIdentityData, match="needs a comment"):
            identities.record_access_review(uow, "")
    with UnitOfWork(db, Actor("olga", "Olga Operator")) as uow:
        with pytest.raises(NotAuthorised, match="administrator or auditor"):
            identities.record_access_review(uow, "x")


@pytest.mark.req("URS-IDN-010", "P11-10e")
def test_access_reviews_are_append_only(db, admin):
    with as_admin(db, admin) as uow:
        identities.record_access_review(uow, "no findings")
        uow.commit()
    with db.session() as s:
        with pytest.raises(Exception, match="append-only"):
            s.execute(text("UPDATE access_review SET comment = 'changed'"))
            s.commit()
