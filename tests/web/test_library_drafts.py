"""The library's first hour for QA, server side: new process, import with a process choice,
saving from the modeler (JSON, problems listed by element name), submitting (full checks,
approvers notified), the review's readable changes, the known choices, and starting a process
from the home page by its starter role."""
from __future__ import annotations

import io
import json
import re

import pytest

from signatures import kdf, testing
from tests.engine.test_drafts import IMPORTED
from tests.web.test_access_matrix import open_session
from tests.web.test_operator import PROCESS

JSON = {"Accept": "application/json"}


@pytest.fixture
def qa(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        people = {name: testing.enrolled_user(db, settings, admin, name, full, roles) for name, full, roles in [
            ("quinn", "Quinn QA", ["qa"]), ("quentin", "Quentin QA", ["qa"]), ("sam", "Sam Supervisor", ["supervisor"]),
            ("alice", "Alice Operator", ["operator"])]}
    frozen_clock.advance(seconds=31)
    clients = {}
    for name, person in people.items():
        clients[name] = app.test_client()
        open_session(db, clients[name], person)
    return clients, people


def upload(client, *paths, reason="brought in", **extra):  # type: ignore[no-untyped-def]
    files = [(io.BytesIO(path.read_bytes()), path.name) for path in paths]
    return client.post("/library/upload", data={"csrf_token": "walk-token", "reason": reason, "files": files, **extra},
                       content_type="multipart/form-data")


@pytest.mark.req("URS-LIB-001", "URS-LIB-003")
def test_import_offers_the_processes_of_a_file_and_opens_the_modeler_with_the_problems(qa):
    clients, _ = qa
    quinn = clients["quinn"]
    choose = upload(quinn, IMPORTED / "two_pools.bpmn")
    html = choose.get_data(as_text=True)
    assert choose.status_code == 200 and "Choose the process to import" in html
    assert 'value="material_receipt"' in html and 'value="supplier_delivery"' in html
    carried = re.findall(r'name="carried" value="([^"]+)"', html)
    chosen = quinn.post("/library/upload", data={"csrf_token": "walk-token", "reason": "brought in", "carried": carried,
                                                 "process_id": "material_receipt"})
    assert chosen.status_code == 302 and chosen.headers["Location"].endswith("/library/material_receipt/v1/modeler")
    modeler = quinn.get("/library/material_receipt/v1/modeler").get_data(as_text=True)
    problems = json.loads(re.search(r'data-problems="([^"]+)"', modeler).group(1).replace("&#34;", '"'))
    assert [(p["element_id"], p["name"]) for p in problems] == [("material_receipt", "Material receipt")]
    assert problems[0]["message"].startswith("The process is not marked executable")
    damaged = quinn.post("/library/upload", data={"csrf_token": "walk-token", "reason": "x", "carried": "a.bpmn:%%%"})
    assert damaged.status_code == 422 and "damaged on its way back" in damaged.get_data(as_text=True)
    spiff = upload(quinn, IMPORTED / "spiff_dialect.bpmn")  # a file name SpiffArena's users download
    assert spiff.headers["Location"].endswith("/library/sample_receipt/v1/modeler")
    hostile = quinn.post("/library/upload", data={"csrf_token": "walk-token", "reason": "x", "files": [
        (io.BytesIO(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'), "evil (1).bpmn")]}, content_type="multipart/form-data")
    assert hostile.status_code == 422 and "evil _1_.bpmn:1: DOCTYPE declarations are not allowed" in \
        hostile.get_data(as_text=True)


def gmp_fields(html: str) -> list[dict]:
    return json.loads(re.search(r'data-gmp-fields="([^"]+)"', html).group(1).replace("&#34;", '"'))


@pytest.mark.req("URS-LIB-004")
def test_the_modelers_gmp_fields_are_the_task_properties_of_the_engine_runtime(qa, app):
    clients, _ = qa
    quinn = clients["quinn"]
    upload(quinn, IMPORTED / "spiff_dialect.bpmn")
    fields = gmp_fields(quinn.get("/library/sample_receipt/v1/modeler").get_data(as_text=True))
    by_name = {f["name"]: f for f in fields}
    assert [f["name"] for f in fields][:5] == ["formJsonSchemaFilename", "formUiSchemaFilename", "signature.meaning",
                                               "signature.verifier", "gates"]
    # what the application's runtime declares (the engine's and the process library's), nothing else
    assert set(by_name) == set(app.extensions["gmp.runtime"].properties.names())
    assert by_name["qualification.sops"] == {"name": "qualification.sops", "kind": "list",
                                             "label": "Required SOP qualifications", "service": True}
    assert by_name["signature.verifier"]["kind"] == "single" and not by_name["signature.verifier"]["service"]
    quinn.post("/language", data={"csrf_token": "walk-token", "language": "zh", "next": "/"})
    fields = gmp_fields(quinn.get("/library/sample_receipt/v1/modeler").get_data(as_text=True))
    assert {f["name"]: f["label"] for f in fields}["qualification.sops"] == "所需 SOP 资质"


@pytest.mark.req("URS-LIB-002", "URS-LIB-003", "URS-LIB-005", "P11-10k", "A11-10")
def test_save_keeps_the_modeler_submit_checks_and_notifies_and_the_review_reads_like_a_record(qa, db):
    from notifications.models import Notification

    clients, _ = qa
    quinn, quentin = clients["quinn"], clients["quentin"]
    upload(quinn, IMPORTED / "spiff_dialect.bpmn")
    refused = quinn.post("/library/versions/1/submit", data={"csrf_token": "walk-token"}, headers=JSON)
    assert refused.status_code == 422 and "2 problem(s) are marked in the diagram" in refused.get_json()["message"]
    fixed = (IMPORTED / "spiff_dialect.bpmn").read_text().replace(
        '<bpmn:startEvent id="arrived"', '<bpmn:laneSet id="lanes"><bpmn:lane id="lane_op" name="operator">'
        '<bpmn:flowNodeRef>arrived</bpmn:flowNodeRef><bpmn:flowNodeRef>log_sample</bpmn:flowNodeRef>'
        '<bpmn:flowNodeRef>notify_lims</bpmn:flowNodeRef><bpmn:flowNodeRef>stored</bpmn:flowNodeRef>'
        '</bpmn:lane></bpmn:laneSet><bpmn:startEvent id="arrived"')
    no_reason = quinn.post("/library/sample_receipt/v1/save", data={"csrf_token": "walk-token", "name":
                                                                    "spiff_dialect.bpmn", "content": fixed}, headers=JSON)
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["message"]
    saved = quinn.post("/library/sample_receipt/v1/save", data={"csrf_token": "walk-token", "name": "spiff_dialect.bpmn",
                                                                "content": fixed, "reason": "in the operator lane"},
                       headers=JSON).get_json()
    assert saved["ok"] and saved["version"] == 2 and saved["modeler"].endswith("/library/sample_receipt/v2/modeler?"
                                                                               "file=spiff_dialect.bpmn")
    assert [(p["element_id"], p["name"]) for p in saved["problems"]] == [("notify_lims", "Notify the LIMS")]
    assert "1 problem(s) to fix before approval" in saved["message"]
    no_lims = fixed.replace("http/PostRequest", "equipment.read_tag")  # a registered operator, wrong parameters
    third = quinn.post(saved["save"], data={"csrf_token": "walk-token", "name": "spiff_dialect.bpmn",
                                            "content": no_lims, "reason": "LIMS call replaced"}, headers=JSON).get_json()
    assert third["version"] == 3 and third["problems"] and all(p["element_id"] == "notify_lims" for p in third["problems"])
    bad = quinn.post(saved["submit"], data={"csrf_token": "walk-token"})  # a page post: back to the modeler
    assert bad.status_code == 302 and bad.headers["Location"].endswith("/library/sample_receipt/v2/modeler")
    # the first version that passes: the template of a new process
    new = quinn.post("/library/new", data={"csrf_token": "walk-token", "name": "Line clearance (packaging)",
                                           "role": "operator", "reason": "new process"})
    assert new.headers["Location"].endswith("/library/line_clearance_packaging/v1/modeler")
    submitted = quinn.post("/library/versions/4/submit", data={"csrf_token": "walk-token"}, headers=JSON).get_json()
    assert submitted["ok"] and "1 user(s) who can approve it were notified" in submitted["message"]
    with db.session() as s:
        notes = [(n.user_id, n.kind, n.link) for n in s.query(Notification).filter_by(kind="approval_waiting")]
    assert notes == [("quentin", "approval_waiting", "/library/versions/4/approve")]  # not the author, not sam
    review = quentin.get("/library/versions/4/approve").get_data(as_text=True)
    assert "The first version: v1" in review and "review-new" in review and "review-old" not in review
    compare = quinn.get("/library/sample_receipt/compare?old=2&new=3").get_data(as_text=True)
    assert "service task “Notify the LIMS”" in compare and "service operator: “http/PostRequest” → “equipment.read_tag”" in compare
    assert json.loads(re.search(r'data-markers="([^"]+)"', compare).group(1).replace("&#34;", '"')) == {
        "added": [], "removed": [], "changed": ["notify_lims"]}


@pytest.mark.req("URS-LIB-003")
@pytest.mark.parametrize("data,message", [
    ({"name": ""}, "Give the new process a name."),
    ({"name": "x" * 201}, "longer than 200 characters"),
    ({"name": "Cleaning", "key": "9lives"}, "The process id may use letters"),
])
def test_a_new_process_needs_a_name_and_a_good_id(qa, data, message):
    clients, _ = qa
    refused = clients["quinn"].post("/library/new", data={"csrf_token": "walk-token", **data})
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)


def test_a_new_process_id_is_taken_once(qa):
    quinn = qa[0]["quinn"]
    assert quinn.post("/library/new", data={"csrf_token": "walk-token", "name": "Cleaning"}).status_code == 302
    again = quinn.post("/library/new", data={"csrf_token": "walk-token", "name": "Cleaning"})
    assert again.status_code == 422 and "A process with the id cleaning exists already" in again.get_data(as_text=True)


@pytest.mark.req("URS-LIB-004")
def test_the_modeler_gets_the_known_choices(qa):
    quinn = qa[0]["quinn"]
    upload(quinn, PROCESS / "dispense.bpmn", PROCESS / "forms/weigh.json", PROCESS / "forms/weigh.ui.json")
    choices = quinn.get("/library/choices?key=dispense&number=1").get_json()
    assert {"value": "performed", "label": "Performed"} in choices["signature.meaning"]
    assert {"value": "qa", "label": "Quality assurance (qa)"} in choices["lane"]
    assert "admin" not in {c["value"] for c in choices["lane"]}  # only business roles run lanes
    assert {"four_eyes", "four_eyes_previous"} <= {c["value"] for c in choices["gates"]}
    assert choices["formJsonSchemaFilename"] == [{"value": "forms/weigh.json", "label": "Weighing (forms/weigh.json)"}]
    assert choices["formUiSchemaFilename"] == [{"value": "forms/weigh.ui.json", "label": "forms/weigh.ui.json"}]
    assert choices["qualification.sops"] == [] and choices["equipment"] == []  # nothing registered yet
    assert qa[0]["alice"].get("/library/choices").status_code == 403


def test_providers_merge_and_a_missing_module_is_skipped(qa, app, db):
    from web.choices import Choice, ChoiceContext, choices

    with app.test_request_context(), db.session() as session:
        ctx = ChoiceContext(session=session, settings=None)
        found = choices(ctx, {"x": ["masterdata.nowhere:sop_choices", "web.choices:bundle_ui_schemas"]})
    assert found == {"x": []}
    assert Choice("SOP-1").as_dict() == {"value": "SOP-1", "label": "SOP-1"}


@pytest.mark.req("URS-UX-003", "P11-10g")
def test_the_starter_role_starts_a_process_from_the_home_page_and_nobody_else(qa, db, settings):
    from engine import definitions
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    clients, people = qa
    text = (PROCESS / "dispense.bpmn").read_text().replace(
        '<bpmn:process id="dispense" name="Dispense one material" isExecutable="true">',
        '<bpmn:process id="dispense" name="Dispense one material" isExecutable="true"><bpmn:extensionElements>'
        '<spiffworkflow:properties><spiffworkflow:property name="starter.roles" value="supervisor"/>'
        '</spiffworkflow:properties></bpmn:extensionElements>')
    files = {"dispense.bpmn": text.encode(), "forms/weigh.json": (PROCESS / "forms/weigh.json").read_bytes(),
             "forms/weigh.ui.json": (PROCESS / "forms/weigh.ui.json").read_bytes()}
    with UnitOfWork(db, people["quinn"].actor) as uow:
        version = definitions.upload(uow, files, reason="starter", services=default_services(settings))
        uow.commit()
    assert "Start a process" not in clients["sam"].get("/").get_data(as_text=True)  # not approved yet
    with UnitOfWork(db, people["quentin"].actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "quentin", {
            "password": people["quentin"].password, "totp": testing.next_totp(db, people["quentin"])}),
            services=default_services(settings))
        uow.commit()
    home = clients["sam"].get("/").get_data(as_text=True)
    assert 'data-start="dispense"' in home and "Dispense one material" in home
    assert 'data-start="dispense"' not in clients["alice"].get("/").get_data(as_text=True)
    refused = clients["alice"].post("/start/dispense", data={"csrf_token": "walk-token"})
    assert refused.status_code == 403 and "Your roles do not start this process" in refused.get_data(as_text=True)
    assert clients["sam"].post("/start/nothing", data={"csrf_token": "walk-token"}).status_code == 404
    started = clients["sam"].post("/start/dispense", data={"csrf_token": "walk-token", "title": "B-9"})
    assert started.status_code == 302 and started.headers["Location"].endswith("/")  # the first task is the operator's
    assert "Started: B-9" in clients["sam"].get("/").get_data(as_text=True)
    assert "B-9" in clients["alice"].get("/tasks/").get_data(as_text=True)


def test_starter_roles_come_from_the_start_events_lanes_without_the_property():
    from web.pages import starter_roles

    elements = {"p": {"tag": "process", "properties": {}}, "s": {"tag": "startEvent", "lane": "planner"},
                "t": {"tag": "userTask", "lane": "operator"}}
    assert starter_roles(elements, "p") == {"planner"}
    elements["p"]["properties"] = {"starter.roles": "supervisor, qa"}
    assert starter_roles(elements, "p") == {"supervisor", "qa"}


@pytest.mark.req("URS-LIB-005")
def test_form_changes_read_field_by_field(app):
    from web.review import form_changes

    old = {"type": "object", "required": ["lot"], "properties": {
        "lot": {"type": "string", "title": "Lot"}, "net": {"type": "number", "title": "Net", "x-gmp-unit": "kg",
                                                           "x-gmp-limits": {"min": 9.5, "max": 10.5}},
        "rows": {"type": "array", "items": {"type": "object", "properties": {"w": {"type": "number"}}}}}}
    new = json.loads(json.dumps(old))
    new["properties"]["net"]["x-gmp-limits"] = {"min": 9.8, "max": 10.2}
    new["required"] = ["lot", "net"]
    del new["properties"]["lot"]["title"]
    new["properties"]["rows"]["items"]["properties"]["t"] = {"type": "string", "title": "Tare"}
    new["properties"]["comment"] = {"type": "string", "title": "Comment"}
    with app.test_request_context():
        lines = form_changes(json.dumps(old).encode(), json.dumps(new).encode())
        assert "field “Comment” (comment) added" in lines and "field “Tare” (rows[].t) added" in lines
        assert 'field “Net” (net), limits: {"max": 10.5, "min": 9.5} → {"max": 10.2, "min": 9.8}' in lines
        assert "field “Net” (net), required: no → yes" in lines and "field lot, label: “Lot” → (none)" in lines
        assert form_changes(b'{"lot": {"ui:help": "a"}}', b'{"lot": {"ui:help": "b"}}') == [
            "field lot, ui:help: “a” → “b”"]
        assert form_changes(b"{", b"{}") == ["the file changed (it is not valid JSON)"]
        assert form_changes(b'{"properties": {}}', b'{"properties": {} }') == [
            "the layout of the file changed, not its fields"]
