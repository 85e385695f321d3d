"""Master data pages, generic over the kinds of the catalogue: list with filters, detail with history and
compare, draft with a reason, approval by another person's signature, withdrawal; English and Chinese."""
from __future__ import annotations

from datetime import timedelta

import pytest

from masterdata import changes
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.masterdata.test_changes import W1, WIDGET
from tests.web.test_access_matrix import open_session

pytestmark = pytest.mark.req("URS-MD-020", "URS-MD-023", "A11-10", "CN-3")
CSRF = {"csrf_token": "walk-token"}


@pytest.fixture(autouse=True)
def widget_kind(runtime):  # type: ignore[no-untyped-def]
    runtime.changes.register(WIDGET)


@pytest.fixture
def people(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        eng = testing.enrolled_user(db, settings, admin, "eng", "Li Engineer", ["validation"])
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        alice = testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"])
    frozen_clock.advance(seconds=31)
    clients = {}
    for person in (eng, quinn, alice):
        clients[person.user_id] = app.test_client()
        open_session(db, clients[person.user_id], person)
    return clients, {"eng": eng, "quinn": quinn, "alice": alice}


def test_draft_approve_history_and_compare_through_the_pages(people, db, frozen_clock):
    clients, who = people
    eng, qa, operator = clients["eng"], clients["quinn"], clients["alice"]
    index = eng.get("/master/").get_data(as_text=True)
    assert 'data-kind="widget"' in index and 'data-kind="tag"' in index
    assert "New Widget" in eng.get("/master/widget").get_data(as_text=True)
    assert "New Widget" not in operator.get("/master/widget").get_data(as_text=True)  # no drafter role
    form = eng.get("/master/widget/edit").get_data(as_text=True)
    assert 'name="f_code"' in form and 'name="f_storage"' in form and 'name="reason"' in form

    bad = eng.post("/master/widget/edit", data={**CSRF, "f_code": "W-001", "f_name": "Lactose", "f_oeb": "9",
                                                "reason": "new material", "action": "create"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "9 is greater than the maximum of 5" in page and 'value="Lactose"' in page
    typo = eng.post("/master/widget/edit", data={**CSRF, "f_code": "W-001", "f_name": "Lactose", "f_oeb": "one",
                                                 "reason": "new material", "action": "create"})
    assert typo.status_code == 422 and "not a valid value" in typo.get_data(as_text=True)
    refused = operator.post("/master/widget/edit", data={**CSRF, "f_code": "W-001", "f_name": "Lactose",
                                                         "f_oeb": "1", "reason": "x", "action": "create"})
    assert refused.status_code == 403 and "alice holds operator" in refused.get_data(as_text=True)
    with db.session() as session:
        assert changes.items(session, "widget") == []  # nothing stored by the refusals

    done = eng.post("/master/widget/edit", data={**CSRF, "f_code": "W-001", "f_name": "Lactose", "f_oeb": "1",
                                                 "f_storage": "min_c: 2\nmax_c: 8", "reason": "new material",
                                                 "action": "create"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/master/widget/W-001")
    mine = eng.get("/master/widget/W-001").get_data(as_text=True)
    assert "Another person with an approver role approves this draft." in mine and "Sign and approve" not in mine
    detail = qa.get("/master/widget/W-001").get_data(as_text=True)
    assert 'data-testid="draft"' in detail and 'data-meaning="approved"' in detail and 'data-diff="storage.max_c"' in detail
    with db.session() as session:
        change_id = changes.pending(session, "widget")[0].id
    wrong = qa.post(f"/master/changes/{change_id}/approve", data={**CSRF, "sig_password": "wrong password",
                                                                   "sig_totp": testing.next_totp(db, who["quinn"])})
    assert wrong.status_code in (401, 403)
    frozen_clock.advance(seconds=31)
    ok = qa.post(f"/master/changes/{change_id}/approve", data={**CSRF, "sig_password": who["quinn"].password,
                                                                "sig_totp": testing.next_totp(db, who["quinn"]),
                                                                "reason": "checked"})
    assert ok.status_code == 302
    detail = qa.get("/master/widget/W-001").get_data(as_text=True)
    assert "Revision 1 in force since" in detail and 'data-revision="1" data-status="effective"' in detail
    assert "Quinn QA" in detail  # the signature manifestation: printed name

    change = eng.post("/master/widget/edit/W-001", data={**CSRF, "f_name": "Lactose monohydrate", "f_oeb": "2",
                                                         "f_storage": "min_c: 2\nmax_c: 25",
                                                         "reason": "supplier spec 2026", "action": "change"})
    assert change.status_code == 302
    with db.session() as session:
        second = changes.pending(session, "widget")[0]
    assert second.data["code"] == "W-001" and second.data["storage"] == {"min_c": 2, "max_c": 25}
    frozen_clock.advance(seconds=31)
    assert qa.post(f"/master/changes/{second.id}/approve", data={
        **CSRF, "sig_password": who["quinn"].password, "sig_totp": testing.next_totp(db, who["quinn"]),
        "effective_from": (frozen_clock.value + timedelta(days=1)).date().isoformat()}
    ).status_code == 302
    detail = qa.get("/master/widget/W-001?a=1&b=2").get_data(as_text=True)
    assert 'data-revision="2" data-status="approved"' in detail  # dated tomorrow: not yet in force
    assert 'data-diff="name"' in detail and "Lactose monohydrate" in detail and 'data-diff="oeb"' in detail
    frozen_clock.advance(days=1)
    open_session(db, qa, who["quinn"])  # the session of yesterday has timed out
    detail = qa.get("/master/widget/W-001").get_data(as_text=True)
    assert 'data-revision="2" data-status="effective"' in detail and 'data-revision="1" data-status="superseded"' in detail

    listing = qa.get("/master/widget?q=monohydrate").get_data(as_text=True)
    assert 'data-key="W-001"' in listing
    assert 'data-key="W-001"' not in qa.get("/master/widget?q=starch").get_data(as_text=True)
    assert 'data-key="W-001"' not in qa.get("/master/widget?status=draft").get_data(as_text=True)
    assert qa.get("/master/gadget").status_code == 404 and qa.get("/master/widget/W-999").status_code == 404


def test_withdraw_retire_and_managed_kinds(people, db, frozen_clock):
    clients, who = people
    eng, qa = clients["eng"], clients["quinn"]
    with UnitOfWork(db, who["eng"].actor) as uow:
        first = changes.draft(uow, None, WIDGET, "W-001", W1, "new", action="create")
        uow.commit()
    assert qa.post(f"/master/changes/{first.id}/withdraw", data={**CSRF, "reason": ""}).status_code == 422
    assert qa.post(f"/master/changes/{first.id}/withdraw", data={**CSRF, "reason": "duplicate"}).status_code == 302
    page = eng.get("/master/widget/W-001").get_data(as_text=True)
    assert 'data-revision="1" data-status="withdrawn"' in page and "Withdrawn by quinn: duplicate" in page
    tags = eng.get("/master/tag").get_data(as_text=True)
    assert "change through the tag registry" in tags and "New Equipment tag" not in tags
    assert eng.get("/master/tag/edit").status_code == 302


def test_the_pages_speak_chinese(people, db, app):
    clients, who = people
    eng = clients["eng"]
    eng.post("/language", data={**CSRF, "language": "zh"})
    page = eng.get("/master/").get_data(as_text=True)
    assert "主数据" in page and "部件" in page
    assert "新建 部件" in eng.get("/master/widget").get_data(as_text=True)


def test_every_kind_of_the_product_catalogue_has_its_pages(people, app):
    clients, who = people
    qa = clients["quinn"]
    kinds = app.extensions["gmp.runtime"].changes.kinds()
    assert {"tag", "widget"} <= {k.name for k in kinds} and len(kinds) > 2  # the library's kinds are there
    for kind in kinds:
        listing = qa.get(f"/master/{kind.name}")
        assert listing.status_code == 200, kind.name
        form = qa.get(f"/master/{kind.name}/edit")
        assert form.status_code == (302 if kind.managed_by else 200), kind.name
        if not kind.managed_by:
            assert f'name="f_{kind.key_field}"' in form.get_data(as_text=True)
    drafted = qa.post("/master/material/edit", data={
        **CSRF, "f_code": "API-001", "f_name": "Paracetamol", "f_oeb": "4", "f_unit": "kg",
        "f_protective_equipment": "- PAPR\n- double gloves", "f_storage": "condition: below 25 °C\nmax_c: 25",
        "reason": "new API", "action": "create"})
    assert drafted.status_code == 302, drafted.get_data(as_text=True)
    with app.extensions["gmp.db"].session() as session:
        draft = changes.pending(session, "material")[0]
    assert draft.data["protective_equipment"] == ["PAPR", "double gloves"] and draft.data["storage"]["max_c"] == 25
