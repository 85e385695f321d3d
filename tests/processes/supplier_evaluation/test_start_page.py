"""Starting a supplier evaluation on its own page: supplier and material chosen from the master data
in force (names with codes), trigger and reason; the home page links there and refuses a title-only
start; each refusal says why and starts nothing; the request shows what the page chose."""
from __future__ import annotations

import pytest


@pytest.fixture
def client_of(sup, runtime):  # type: ignore[no-untyped-def]
    from app import create_app
    from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
    from tests.web.test_access_matrix import open_session

    app = create_app({"instance_path": sup.settings.instance_path, "database_url": sup.settings.database_url,
                      "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, runtime=runtime)
    app.config["TESTING"] = True

    def client(user):  # type: ignore[no-untyped-def]
        found = app.test_client()
        open_session(sup.db, found, sup[user])
        return found
    yield client
    app.extensions["gmp.db"].dispose()


def _instances(sup) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from engine.models import ProcessInstance

    with sup.db.session() as session:
        return session.scalar(select(func.count()).select_from(ProcessInstance))


@pytest.mark.req("URS-UX-003", "P11-10g")
def test_a_requester_starts_an_evaluation_on_its_page_and_a_bad_start_starts_nothing(sup, client_of):
    from engine.business_keys import key_of
    from engine.models import ProcessInstance

    rob = client_of("rob")
    home = rob.get("/").get_data(as_text=True)
    card = home[home.index('data-start="supplier_evaluation"'):]
    assert 'href="/suppliers/evaluate"' in card[:card.index("</li>")]
    before = _instances(sup)
    refused = rob.post("/start/supplier_evaluation", data={"title": "SUP-C", "csrf_token": "walk-token"})
    assert refused.status_code == 409 and "/suppliers/evaluate" in refused.get_data(as_text=True)
    assert _instances(sup) == before
    page = rob.get("/suppliers/evaluate?supplier=SUP-C").get_data(as_text=True)
    assert 'data-testid="evaluate-form"' in page
    assert '<option value="SUP-C" selected>Gamma Excipients (SUP-C)</option>' in page
    assert '<option value="MAT-LAC">Lactose monohydrate (MAT-LAC)</option>' in page
    form = {"supplier": "SUP-C", "material": "MAT-LAC", "trigger": "new_supplier",
            "reason": "second source for lactose", "csrf_token": "walk-token"}
    for bad, words in [({"supplier": "SUP-X"}, "Supplier SUP-X is not in the master data in force"),
                       ({"material": "MAT-NONE"}, "Material MAT-NONE is not in the master data in force"),
                       ({"supplier": ""}, "Choose the supplier."), ({"material": ""}, "Choose the material."),
                       ({"trigger": "whim"}, "Choose what triggers this evaluation."),
                       ({"reason": "  "}, "Give the reason for this evaluation.")]:
        answer = rob.post("/suppliers/evaluate", data={**form, **bad})
        html = answer.get_data(as_text=True)
        assert answer.status_code == 422 and words in html and 'data-testid="evaluate-refused"' in html, bad
        assert "second source for lactose" in html or bad == {"reason": "  "}  # the entries are kept
    assert _instances(sup) == before
    with rob.session_transaction() as sess:
        sess["lang"] = "zh"
    zh = rob.post("/suppliers/evaluate", data={**form, "reason": ""})
    assert zh.status_code == 422 and "请说明本次评估的理由。" in zh.get_data(as_text=True)
    assert "启动供应商评估" in rob.get("/suppliers/evaluate").get_data(as_text=True)
    with rob.session_transaction() as sess:
        sess["lang"] = "en"
    # only the starter roles: purchasing (paula) holds no requester role here
    assert client_of("paula").get("/suppliers/evaluate").status_code == 403
    assert client_of("paula").post("/suppliers/evaluate", data=form).status_code == 403
    assert _instances(sup) == before
    done = rob.post("/suppliers/evaluate", data=form)
    assert done.status_code == 302 and done.headers["Location"].endswith("/tasks/") and _instances(sup) == before + 1
    with sup.db.session() as session:
        from sqlalchemy import select

        instance = session.scalars(select(ProcessInstance).order_by(ProcessInstance.id.desc())).first()
        assert instance.title == "Evaluation of Gamma Excipients (SUP-C) for Lactose monohydrate (MAT-LAC)"
        assert instance.started_by == "rob" and (key_of(session, instance.id) or "").startswith("SE-")
    assert sup.inspect(instance.id)["data"]["evaluation"] == {
        "supplier": "SUP-C", "material": "MAT-LAC", "trigger": "new_supplier", "reason": "second source for lactose"}
    # the request shows the chosen supplier (with its name) and material read-only; rob gives the rest
    request = rob.get(f"/tasks/{sup.task(instance.id, 'request')}").get_data(as_text=True)
    assert 'value="SUP-C"' in request and "Gamma Excipients (SUP-C)" in request
    assert "second source for lactose" in request and "new supplier (新供应商)" in request
    sup.complete(instance.id, "request", "rob", {"criticality": "medium", "scope": "lactose monohydrate"})
    data = sup.inspect(instance.id)["data"]
    assert (data["supplier"], data["material"], sup.ready(instance.id)) == ("SUP-C", "MAT-LAC", ["questionnaire"])
