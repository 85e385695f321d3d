"""The active-permits board in the web application: location, work type, window and status of
each permit, in English and Chinese, for the roles the access matrix names."""
from __future__ import annotations

import re

import pytest

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
from tests.processes.work_permit.test_work_permit import REQUEST, to_work
from tests.web.test_access_matrix import open_session


@pytest.fixture
def client(site, runtime):  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app({"instance_path": site.settings.instance_path, "database_url": site.settings.database_url,
                      "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, runtime=runtime)
    app.config["TESTING"] = True
    yield app.test_client()
    app.extensions["gmp.db"].dispose()


def statuses(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-permit="([^"]+)" data-status="([^"]+)"', html))


@pytest.mark.req("URS-PTW-005", "A11-12", "CN-6")
def test_the_board_shows_each_permit_where_it_stands_in_both_languages(site, client):
    active = to_work(site)
    requested = site.start()
    site.complete(requested, "request", "rose", {**REQUEST, "location": "Boiler house", "work_type": "energy_isolation",
                                                 "crew": [{"member": "tom"}]})
    open_session(site.db, client, site["ella"])
    html = client.get("/permits/").get_data(as_text=True)
    assert statuses(html) == {"PTW-0001": "active", "PTW-0002": "hazard_assessment"}
    assert "Room 101, vessel V-101 · V-101" in html and "Hot work" in html and "2026-01-05 16:00" in html
    assert "Energy isolation (lockout-tagout)" in html and "Boiler house" in html
    assert 'href="/permits/"' in html  # in the navigation

    site.clock.value = site.clock.value.replace(hour=16, minute=5)  # past the window, before the timer fired
    open_session(site.db, client, site["ella"])
    assert statuses(client.get("/permits/").get_data(as_text=True))["PTW-0001"] == "expired"

    client.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    html = client.get("/permits/").get_data(as_text=True)
    assert "动火作业" in html and "已过期" in html and "危害评估" in html and "能量隔离（上锁挂牌）" in html
    assert active and requested


@pytest.mark.req("URS-PTW-005", "P11-10g")
def test_the_board_lists_closed_permits_on_request_and_refuses_an_administrator(site, client):
    from engine import instances
    from store.uow import UnitOfWork

    pid = site.start()
    with UnitOfWork(site.db, site["rose"].actor) as uow:
        instances.cancel(uow, pid, "raised in error")
        uow.commit()
    open_session(site.db, client, site["owen"])
    assert statuses(client.get("/permits/").get_data(as_text=True)) == {}
    assert statuses(client.get("/permits/?all=1").get_data(as_text=True)) == {"PTW-0001": "cancelled"}
    open_session(site.db, client, site.admin)
    assert client.get("/permits/").status_code == 403


@pytest.mark.req("URS-PTW-001", "URS-PTW-002", "P11-10h", "A11-8")
def test_the_record_lists_every_isolation_and_gas_reading_on_page_json_and_pdf(site, client, tmp_path):
    import subprocess

    pid = site.start()
    site.complete(pid, "request", "rose", REQUEST)
    from tests.processes.work_permit.test_work_permit import GAS, HOT, POINTS, isolate

    site.complete(pid, "hazards_hot_work", "owen", HOT)
    site.sim.set("isolation.n2_valve_open", False)
    site.complete(pid, "apply_isolations", "ivan", POINTS)  # the MCC breaker still energised: sent back
    isolate(site)
    site.complete(pid, "apply_isolations", "ivan", POINTS)
    site.complete(pid, "gas_test", "ella", GAS)
    open_session(site.db, client, site["owen"])
    record = client.get(f"/records/{pid}.json").get_json()
    sections = {s["key"]: s for s in record["sections"]}
    rows = sections["isolations"]["rows"]
    assert [(r["tag"], r["value"], r["state"], r["ok"]) for r in rows] == [
        ("ISO-BRK-02.closed", True, "energised", "NO"), ("ISO-VLV-02.open", False, "isolated", "yes"),
        ("ISO-BRK-02.closed", False, "isolated", "yes"), ("ISO-VLV-02.open", False, "isolated", "yes")]
    assert all(r["read_at"] and r["lock"] in ("L-101", "L-102") for r in rows)
    gas = {r["gas"]: r for r in sections["gas_tests"]["rows"]}
    assert gas["o2"]["value"] == "20.90" and gas["o2"]["limit"] == "19.5-23.5 %" and gas["lel"]["limit"] == "< 10 %LEL"
    page = client.get(f"/records/{pid}").get_data(as_text=True)
    assert "Isolation points read from the plant" in page and "Gas tests" in page and "ISO-BRK-02.closed" in page
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(client.get(f"/records/{pid}.pdf").get_data())
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Isolation points read from the plant" in text and "ISO-VLV-02.open" in text and "GAS-01.lel" in text
