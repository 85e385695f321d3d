"""Admin pages: the role catalogue, periodic access reviews, account expiry."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from signatures.models import AccessReview, Role, UserAccount
from tests.web.test_admin import admin_client, post  # noqa: F401 - fixture

pytestmark = pytest.mark.req("URS-WEB-004", "A11-12", "CN-2")


def test_roles_page_lists_the_catalogue_and_adds_a_role(admin_client, db):  # noqa: F811
    client, _, _ = admin_client
    page = client.get("/admin/roles").get_data(as_text=True)
    assert 'data-role="qp"' in page and 'data-role="auditor"' in page
    done = post(client, "/admin/roles", name="cleaning_lead", kind="business", label_en="Cleaning lead",
                label_zh="清洁负责人", description="signs cleaning records", reason="new cleaning SOP")
    assert done.status_code == 302
    with db.session() as s:
        assert s.get(Role, "cleaning_lead").kind == "business"
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.object_id == "cleaning_lead")).scalar_one() >= 1


@pytest.mark.req("P11-10k")
def test_adding_a_role_without_reason_or_twice_is_refused_and_changes_nothing(admin_client, db):  # noqa: F811
    client, _, _ = admin_client
    refused = post(client, "/admin/roles", name="lead", kind="business", label_en="Lead", label_zh="负责人",
                   description="", reason="")
    assert refused.status_code >= 400 and "reason" in refused.get_data(as_text=True)
    twice = post(client, "/admin/roles", name="qa", kind="business", label_en="QA", label_zh="质量保证",
                 description="", reason="again")
    assert twice.status_code >= 400 and "exists already" in twice.get_data(as_text=True)
    with db.session() as s:
        assert s.get(Role, "lead") is None


@pytest.mark.req("P11-300b")
def test_access_review_is_recorded_with_a_snapshot(admin_client, db):  # noqa: F811
    client, _, _ = admin_client
    assert post(client, "/admin/access-reviews", comment="").status_code >= 400
    assert post(client, "/admin/access-reviews", comment="no findings").status_code == 302
    with db.session() as s:
        review = s.execute(select(AccessReview)).scalar_one()
    assert review.comment == "no findings" and "alice" in review.snapshot
    assert "no findings" in client.get("/admin/roles").get_data(as_text=True)


@pytest.mark.req("P11-10d")
def test_account_expiry_is_set_with_a_reason_and_bad_dates_are_refused(admin_client, db):  # noqa: F811
    client, _, _ = admin_client
    bad = post(client, "/admin/users/alice/expiry", expires_on="31.12.2027", reason="contract end")
    assert bad.status_code == 422 and "2027-12-31" in bad.get_data(as_text=True)
    with db.session() as s:
        assert s.get(UserAccount, "alice").expires_on is None
    assert post(client, "/admin/users/alice/expiry", expires_on="2027-12-31", reason="contract end").status_code == 302
    with db.session() as s:
        assert s.get(UserAccount, "alice").expires_on == date(2027, 12, 31)
