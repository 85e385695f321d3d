"""The quality pages: anyone reports a deviation on the process's own form (bad entries shown
again, nothing started), and the QA overview shows open deviations by class and age, CAPA
actions due, document revisions, qualifications ending within 30 days and the monthly chart,
in English and Chinese (both databases)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine import definitions, links
from engine.business_keys import find
from engine.models import ProcessInstance
from engine.ports import SignatureInput, default_services
from masterdata import qualifications
from signatures import testing
from store.uow import UnitOfWork
from tests.masterdata.conftest import plant, stocked  # noqa: F401 - fixtures
from tests.processes.deviation_capa.conftest import STUBS, bundle
from tests.processes.deviation_capa.test_deviation_flow import TRIAGE, raise_deviation
from tests.web.conftest import app  # noqa: F401 - fixture
from tests.web.test_access_matrix import open_session

pytestmark = pytest.mark.req("URS-DEV-005", "URS-DEV-001", "CN-6", "P11-10g")


def deploy(site, files) -> None:  # type: ignore[no-untyped-def]
    services = default_services(site.settings)
    with UnitOfWork(site.db, site["quinn"].actor) as uow:
        version = definitions.upload(uow, files, reason="initial version", services=services)
        uow.commit()
        version_id = version.id
    creds = site.creds("rita")
    with UnitOfWork(site.db, site["rita"].actor) as uow:
        definitions.approve(uow, version_id, SignatureInput("approved", "rita", {
            "password": creds.password, "totp": creds.totp}), services=services)
        uow.commit()


class Acting:
    """The masterdata plant seen through the deviation tests' helpers (start, complete)."""

    def __init__(self, found) -> None:  # type: ignore[no-untyped-def]
        from tests.processes.deviation_capa.conftest import Site

        self.site = Site.__new__(Site)
        self.site.db, self.site.settings, self.site.clock = found.db, found.settings, found.clock
        self.site.admin, self.site.people, self.site.services = found.admin, found.people, default_services(found.settings)


@pytest.fixture
def quality(app, stocked, runtime):  # type: ignore[no-untyped-def]  # noqa: F811
    from bpmn.deviation_capa import bundle as deviation_bundle

    site = stocked  # the app fixture added the library's parts to `runtime`
    from signatures import kdf

    with kdf.unsafe_fast_kdf():
        site.people["ivan"] = testing.enrolled_user(site.db, site.settings, site.admin, "ivan", "Ivan Investigator",
                                                    ["investigator"])
    deploy(site, bundle(STUBS / "gate_batch"))
    deploy(site, deviation_bundle())
    return app, Acting(site).site


def _count(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.title.like("Deviation:%")))


REPORT = {"csrf_token": "walk-token", "f:deviation.title": "Torn label on drum 4",
          "f:deviation.description": "Found at goods receipt", "f:deviation.occurred_on": "2026-01-05",
          "f:deviation.batch": "B-2026-0001", "f:deviation.severity": "minor"}


def test_anyone_reports_a_deviation_and_bad_entries_are_shown_again(quality):
    application, site = quality
    batch = site.start("gate_batch", business_key="B-2026-0001", title="Batch B-2026-0001")
    site.complete(batch, "make", "alice")
    client = application.test_client()
    open_session(site.db, client, site["alice"])
    page = client.get("/quality/deviations/new").get_data(as_text=True)
    assert 'data-testid="deviation-report"' in page and "Short title" in page
    for change, expected in (({"f:deviation.occurred_on": "2026-01-09"}, "is after today"),
                             ({"f:deviation.batch": "B-2026-0404"}, "There is no batch B-2026-0404"),
                             ({"f:deviation.title": ""}, "Short title")):
        refused = client.post("/quality/deviations/new", data={**REPORT, **change})
        text = refused.get_data(as_text=True)
        assert refused.status_code == 422 and expected in text, text[:2000]
        assert "Found at goods receipt" in text  # the entries stay
    assert _count(site.db) == 0
    done = client.post("/quality/deviations/new", data=REPORT)
    assert done.status_code == 302
    with site.db.session() as session:
        deviation = find(session, "deviation", "DEV-2026-0001")
        assert done.headers["Location"].endswith(f"/records/{deviation}")
        assert [(r.relation, r.instance_id) for r in links.related(session, deviation)] == [("affects", batch)]
    assert site.refusal(batch, "release", "peter").code == "deviation_open"
    from tests.processes.deviation_capa.conftest import task_data

    report = task_data(site.db, deviation, "triage")["deviation"]
    assert report["context"] == {"source_kind": "manual", "batch": "B-2026-0001"} and report["reported_by"] == "alice"
    client.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = client.get("/quality/deviations/new").get_data(as_text=True)
    assert "报告偏差" in page and "简要标题" in page
    open_session(site.db, client, site.admin)
    assert client.get("/quality/deviations/new").status_code == 403


def test_the_qa_overview_shows_deviations_actions_and_expiring_qualifications(quality):
    application, site = quality
    site.clock.advance(days=2)
    one = site.start("gate_batch", business_key="B-2026-0001", title="Batch B-2026-0001")
    first = raise_deviation(site, one)  # waits for triage: not yet classified
    second = raise_deviation(site, one, {"source_kind": "yield", "batch": "B-2026-0001"})
    site.complete(second, "triage", "quinn", {**TRIAGE, "severity": "high", "occurrence": "frequent",
                                              "detectability": "low", "investigation_due": "2026-01-08"},
                  ("classified",))
    site.complete(second, "investigate", "ivan", {
        "why_1": "x", "root_cause": "y", "root_cause_category": "method",
        "product_impact": [{"batch": "B-2026-0001", "impact": "none", "assessment": "none"}]}, ("performed",))
    site.complete(second, "capa_plan", "ivan", {"actions": [
        {"kind": "corrective", "description": "Fix the sieve", "owner": "ivan", "due": "2026-01-09", "starts": "none"}]})
    site.complete(second, "review_capa", "quinn", {"decision": "approve", "effectiveness_days": 30})
    site.complete(second, "approve_capa", "rita", {}, ("approved",))
    site.clock.advance(seconds=31)
    creds = testing.credentials(site.db, site["tess"])
    with UnitOfWork(site.db, site["tess"].actor) as uow:
        qualifications.grant_qualification(uow, "alice", "SOP-PRD-012", 4, credentials=creds, settings=site.settings,
                                           basis="read and understood", valid_until="2026-01-30")
        uow.commit()
    site.clock.advance(days=4)  # 2026-01-11: the action is overdue, the qualification ends in 19 days
    client = application.test_client()
    open_session(site.db, client, site["quinn"])
    page = client.get("/quality/").get_data(as_text=True)
    assert re.search(r'<tr data-class="unclassified">.*?<td data-band="8-30">0</td>', page, re.S)
    assert re.search(r'<tr data-class="unclassified">.*?<td data-band="0-7">1</td>', page, re.S)
    assert re.search(r'<tr data-class="critical">.*?<td data-band="0-7">1</td>', page, re.S)
    assert 'data-key="DEV-2026-0001" data-class="unclassified"' in page
    assert 'data-key="DEV-2026-0002" data-class="critical"' in page
    assert '<tr data-deviation="DEV-2026-0002" data-overdue="true">' in page and "Fix the sieve" in page
    assert '<tr data-user="alice" data-sop="SOP-PRD-012"><td>alice</td><td>SOP-PRD-012</td><td>v4</td>' \
           '<td>2026-01-30</td><td>19</td>' in page
    assert 'data-month="2026-01" data-class="unclassified" data-count="1"' in page
    assert 'data-month="2026-01" data-class="critical" data-count="1"' in page
    assert "<title id=\"chart-title\">Deviations opened per month, by class</title>" in page
    assert first
    client.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = client.get("/quality/").get_data(as_text=True)
    assert "质量概览" in page and "关键" in page and "按类别统计的每月偏差数" in page
    open_session(site.db, client, site.admin)
    assert client.get("/quality/").status_code == 403


def test_the_triage_task_and_the_record_show_what_was_reported(quality):
    application, site = quality
    one = site.start("gate_batch", business_key="B-2026-0001", title="Batch B-2026-0001")
    deviation = raise_deviation(site, one)
    client = application.test_client()
    open_session(site.db, client, site["quinn"])
    task_id = site.task_id(deviation, "triage")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    context = page[page.index('data-testid="task-context"'):page.index("</details>")]
    for text in ("Bowl temperature above 70 °C", "Tag (位号)", "GR-01.bowl_temp", "72.4", "Upper limit (上限)",
                 "B-2026-0002", "cpp_excursion"):
        assert text in context, text
    record = client.get(f"/records/{deviation}").get_data(as_text=True)
    assert '<section class="record-section" data-section="report">' in record and "GR-01.bowl_temp" in record
    site.complete(deviation, "triage", "quinn", TRIAGE, ("classified",))
    site.complete(deviation, "investigate", "ivan", {
        "why_1": "x", "root_cause": "Valve worn", "root_cause_category": "machine",
        "product_impact": [{"batch": b, "impact": "none", "assessment": "none"} for b in ("B-2026-0001",)]},
        ("performed",))
    client.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = client.get(f"/tasks/{site.task_id(deviation, 'capa_plan')}").get_data(as_text=True)
    assert "本记录的内容" in page and "偏差报告" in page and "Valve worn" in page and "major" in page
