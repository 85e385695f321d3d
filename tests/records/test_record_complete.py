"""The executed record of an instance, complete, for any process (P11-10b, A11-8, CN-6).

One small batch runs for real on both databases: values captured from the scale (Modbus
simulator) with their read time and stable flag, one overridden by hand with a reason and a
second person's verification, one entered outside its limits; a set-point signed, written
by the scheduler and read back; a drying phase sampled sample by sample (one parameter
outside its band); an exception recorded by the diagram; QA's assessments; a link; a
correction after first entry. The record's JSON, page and PDF (PDF/A-3b, JSON attached,
business key and "page X of Y" on every page, Chinese) say all of it, and the JSON
verifies against the audit trail, until a value in it is altered.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import InstanceTask
from engine.record_sections import RecordSection
from engine.spiff.workflow import READY
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.conftest import TEST_PASSPHRASE, TEST_SECRET, missing
from tests.web.test_access_matrix import open_session

PROCESS = Path(__file__).parent / "processes" / "record_full"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def drying_summary(session, instance_id, record):  # type: ignore[no-untyped-def]
    """A process's own section (engine.record_sections): one row per sampled tag of the drying result."""
    drying = (record.get("data") or {}).get("drying")
    if not drying:
        return None
    return {"columns": [{"key": "tag", "label_en": "Tag", "label_zh": "位号"},
                        {"key": "mean", "label_en": "Mean", "label_zh": "平均值"}],
            "rows": [{"tag": name, "mean": round(stats["mean"], 2)} for name, stats in sorted(drying["tags"].items())],
            "notes": [f"{drying['rounds']} rounds every {drying['interval_s']} s"]}


def broken_section(session, instance_id, record):  # type: ignore[no-untyped-def]
    raise ValueError("the permit table is missing")


def tasks_of(db, instance_id, *states: int):  # type: ignore[no-untyped-def]
    """bpmn id -> task id of the instance's tasks (in one of `states`, default: any)."""
    with db.session() as session:
        return {row.bpmn_id: row.id for row in session.scalars(select(InstanceTask).where(
            InstanceTask.instance_id == instance_id)) if not states or row.state in states}


@pytest.fixture
def batch(registered, settings, people, plant, frozen_clock, runtime):  # type: ignore[no-untyped-def]
    """A finished small batch with every kind of recorded value; (app, clients, db, ids)."""
    from app import create_app
    from bpmn.glue import extend
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from engine.scheduler import Scheduler

    db = registered
    plant_runtime = extend(runtime, db, settings)
    plant_runtime.record_sections.register(RecordSection("record_full", "drying_summary", "Drying summary", "干燥汇总",
                                                         drying_summary, order=1))
    plant_runtime.record_sections.register(RecordSection("record_full", "isolations", "Isolations", "隔离",
                                                         broken_section, order=2))
    app = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url,
                      "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, runtime=plant_runtime)
    app.config["TESTING"] = True
    with kdf.unsafe_fast_kdf():
        bob = testing.enrolled_user(db, settings, people.admin, "op.bob", "Bob 王 Verifier", ["operator"])
        approver = testing.enrolled_user(db, settings, people.admin, "qa.zhao", "Zhao QA", ["qa"])
        operator = people.operator
    services = default_services(settings)
    files = {str(p.relative_to(PROCESS)): p.read_bytes() for p in sorted(PROCESS.rglob("*")) if p.is_file()}
    with UnitOfWork(db, people.qa.actor) as uow:
        version = definitions.upload(uow, files, reason="record test", services=services)
        uow.commit()
    frozen_clock.advance(seconds=31)
    with UnitOfWork(db, approver.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
            "password": approver.password, "totp": testing.next_totp(db, approver)}), services=services)
        uow.commit()
    with UnitOfWork(db, operator.actor) as uow:
        first = instances.start(uow, "record_full", title="Granulate 颗粒 B-2026-0042", business_key="B-2026-0042",
                                settings=settings).id
        other = instances.start(uow, "record_full", title="Granulate B-2026-0043", business_key="B-2026-0043",
                                settings=settings).id
        uow.commit()
    op, qa = app.test_client(), app.test_client()
    open_session(db, op, operator)
    open_session(db, qa, people.qa)
    # 1. weighing: net and gross captured from the scale; gross overridden by hand (reason + verifier);
    #    moisture entered outside its limits with an exception comment
    weigh = tasks_of(db, first)["weigh"]
    plant.force("scale.net_weight", 10.02)
    try:
        assert op.post(f"/tasks/{weigh}/capture", data={"csrf_token": "walk-token"}).status_code == 302
    finally:
        plant.release()
    frozen_clock.advance(seconds=31)
    done = op.post(f"/tasks/{weigh}", data={
        "csrf_token": "walk-token", "f:lot": "L-0042", "f:moisture": "6.2", "exc:moisture": "moisture high: DEV to follow",
        "ovv:gross": "10.4", "ovr:gross": "scale display frozen, read from the backup balance",
        "sig_password": operator.password, "sig_totp": testing.next_totp(db, operator),
        "sig2_user_id": "op.bob", "sig2_password": bob.password, "sig2_totp": testing.next_totp(db, bob)})
    assert done.status_code == 200, done.get_data(as_text=True)
    # 2. the set-point, signed; the scheduler writes it and reads it back; drying samples; the yield exception
    set_temp = tasks_of(db, first)["set_temp"]
    frozen_clock.advance(seconds=31)
    done = op.post(f"/tasks/{set_temp}", data={"csrf_token": "walk-token", "f:inlet_temp": "55.5",
                                                "sig_password": operator.password,
                                                "sig_totp": testing.next_totp(db, operator)})
    assert done.status_code == 200, done.get_data(as_text=True)
    plant.force("dryer.product_temp", 61.5)  # above its 60 degC limit: every sample is an excursion
    try:
        for _ in range(4):
            if "qa_review" in tasks_of(db, first, READY):
                break
            Scheduler(db, settings, name="worker-1", runtime=plant_runtime).run_once()
    finally:
        plant.release()
        plant.set("dryer.inlet_temp_sp", 60.0)
    assert "qa_review" in tasks_of(db, first, READY)
    # 3. QA assesses the exceptions (two of the ones listed), signs; links the other batch
    record = json.loads(qa.get(f"/records/{first}.json").get_data(as_text=True))
    refs = [e["ref"] for e in record["exceptions"]]
    assert any(r.endswith(":moisture") for r in refs) and any(r.startswith("E:") for r in refs), record
    moisture = next(r for r in refs if r.endswith(":moisture"))
    recorded = next(r for r in refs if r.startswith("E:"))
    review = tasks_of(db, first)["qa_review"]
    frozen_clock.advance(seconds=31)
    done = qa.post(f"/tasks/{review}", data={
        "csrf_token": "walk-token",
        "r:assessments.0": "1", "f:assessments.0.exception_ref": moisture,
        "f:assessments.0.assessment": "Re-dried; LOD in limits afterwards", "f:assessments.0.decision": "accepted",
        "r:assessments.1": "1", "f:assessments.1.exception_ref": recorded,
        "f:assessments.1.assessment": "Yield loss explained by the sieve change", "f:assessments.1.decision": "deviation raised",
        "sig_password": people.qa.password, "sig_totp": testing.next_totp(db, people.qa)})
    assert done.status_code == 200, done.get_data(as_text=True)
    linked = qa.post(f"/records/{first}/links", data={"csrf_token": "walk-token", "relation": "affects",
                                                      "other": "B-2026-0043", "reason": "same granulate lot"})
    assert linked.status_code == 302, linked.get_data(as_text=True)
    # 4. a correction after first entry (Annex 11 §8)
    frozen_clock.advance(seconds=31)
    corrected = op.post(f"/records/{first}/tasks/{weigh}/correct", data={
        "csrf_token": "walk-token", "field": "lot", "value": "L-0043", "reason": "label misread",
        "sig_password": operator.password, "sig_totp": testing.next_totp(db, operator)})
    assert corrected.status_code == 302, corrected.get_data(as_text=True)
    yield app, {"op": op, "qa": qa}, db, {"first": first, "other": other, "weigh": weigh, "set_temp": set_temp,
                                          "review": review}
    app.extensions["gmp.db"].dispose()


@pytest.mark.req("P11-10b", "P11-10e", "P11-10h", "A11-8", "A11-6", "CN-3", "CN-4", "CN-6", "ALCOA-ORIGINAL")
def test_the_record_holds_every_value_with_its_source_exceptions_assessments_links_and_samples(batch, settings):
    app, clients, db, ids = batch
    record = json.loads(clients["qa"].get(f"/records/{ids['first']}.json").get_data(as_text=True))
    assert record["instance"]["business_key"] == "B-2026-0042" and record["instance"]["status"] == "completed"
    tasks = {t["bpmn_id"]: t for t in record["tasks"]}
    weigh = {v["field"]: v for v in tasks["weigh"]["values"]}
    net, gross, moisture, lot = weigh["net"], weigh["gross"], weigh["moisture"], weigh["lot"]
    # equipment: tag, read time, stable flag; who and when
    assert net["source"] == "equipment" and net["value"] == "10.02" and net["capture"]["tag"] == "SCALE-01.net_weight"
    assert net["capture"]["captured_at"] and net["capture"]["stable"] in (True, False)
    assert net["entered_by"] == "op.chen" and net["entered_at"] == tasks["weigh"]["completed_at"]
    # manual override: reason and verifier
    assert gross["source"] == "manual_override" and gross["value"] == "10.4"
    assert gross["override_reason"] == "scale display frozen, read from the backup balance"
    assert gross["verified_by"] == "op.bob" and tasks["weigh"]["verified_by"] == "op.bob"
    # out of limits; a correction after first entry, flagged (Annex 11 §8)
    assert moisture["out_of_limits"] and moisture["exception_comment"] == "moisture high: DEV to follow"
    assert (lot["original"], lot["value"], lot["changed_since_first_entry"]) == ("L-0042", "L-0043", True)
    [change] = record["changed_after_first_entry"]
    assert (change["field"], change["original"], change["corrected"], change["reason"]) == \
        ("lot", "L-0042", "L-0043", "label misread")
    flagged = [e for e in record["timeline"] if e["changed_after_first_entry"]]
    assert [e["action"] for e in flagged] == ["task.value_corrected"]
    # the set-point with its read-back
    [setpoint] = tasks["set_temp"]["setpoints"]
    assert (setpoint["tag"], setpoint["value"], setpoint["state"], setpoint["readback"]) == \
        ("FBD-01.inlet_temp_sp", 55.5, "confirmed", 55.5)
    # signatures: printed name, time with its zone, meaning
    manifest = {(s["task"], s["signer_id"], s["meaning"]) for s in record["signatures"]}
    assert {("Weigh the granulate", "op.chen", "performed"), ("Weigh the granulate", "op.bob", "verified"),
            ("Set the inlet air temperature", "op.chen", "performed"),
            ("QA review by exception", "qa.wang", "reviewed")} <= manifest
    assert all(s["utc"].endswith("UTC") and s["printed_name"] for s in record["signatures"])
    # the sampled phase: every sample, in order, with the tag's limits
    [phase] = record["phases"]
    assert phase["element_id"] == "dry" and phase["name"] == "Drying"
    params = {p["tag"]: p for p in phase["parameters"]}
    product = params["FBD-01.product_temp"]
    assert (product["low"], product["high"], product["unit"], product["count"], product["outside"]) == \
        (20.0, 60.0, "degC", 7, 7)
    assert all(s["value"] == 61.5 and not s["within_limits"] for s in product["samples"])
    assert params["FBD-01.inlet_temp"]["count"] == 7 and params["FBD-01.inlet_temp"]["outside"] == 0
    # exceptions of all three kinds, with QA's assessments where given
    by_ref = {e["ref"]: e for e in record["exceptions"]}
    kinds = sorted({e["kind"] for e in record["exceptions"]})
    assert kinds == ["sample_out_of_limits", "value_out_of_limits", "yield"]
    moisture_ref = next(r for r in by_ref if r.endswith(":moisture"))
    assert by_ref[moisture_ref]["assessment"]["decision"] == "accepted"
    assert by_ref[moisture_ref]["assessment"]["assessed_by"] == "qa.wang"
    yield_ref = next(r for r in by_ref if r.startswith("E:"))
    assert by_ref[yield_ref]["message"] == "yield 91.2 % below 95 %"
    assert by_ref[yield_ref]["assessment"]["assessment"] == "Yield loss explained by the sieve change"
    assert all(e["assessment"] is None for e in record["exceptions"] if e["kind"] == "sample_out_of_limits")
    # the link, with the other record's status
    [link] = record["links"]
    assert (link["relation"], link["business_key"], link["status"]) == ("affects", "B-2026-0043", "running")
    # the process's own sections (hook); a broken one shows its error, the record stays readable
    sections = {s["key"]: s for s in record["sections"]}
    assert [r["tag"] for r in sections["drying_summary"]["rows"]] == ["FBD-01.inlet_temp", "FBD-01.product_temp"]
    assert sections["isolations"]["error"] == "ValueError: the permit table is missing"
    # the page shows the same
    page = clients["qa"].get(f"/records/{ids['first']}").get_data(as_text=True)
    assert 'data-exception="' + moisture_ref + '"' in page and "not assessed" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="record-chart"' in page and 'class="limit-band"' in page
    assert page.count('class="outside"') >= 7 and "Drying summary" in page and "the permit table is missing" in page
    assert "scale display frozen" in page and "verified by op.bob" in page and 'data-a11-8="1"' in page


@pytest.mark.req("P11-10b", "P11-10c", "A11-8", "CN-6")
def test_the_json_verifies_against_the_audit_trail_until_a_value_is_altered(batch, settings, tmp_path):
    from web.record_verify import verify_record

    app, clients, db, ids = batch
    record = json.loads(clients["qa"].get(f"/records/{ids['first']}.json").get_data(as_text=True))
    report = verify_record(db, record, settings)
    assert report.ok, report.summary()
    assert report.checked["values"] >= 6 and report.checked["samples"] == 14 and report.checked["exceptions"] == 1
    cases = {
        "a captured value": lambda r: _value(r, "weigh", "net").update(value="10.20", original="10.20"),
        "a signed first entry": lambda r: _task(r, "weigh")["signed_record"]["data"].update(moisture="4.2"),
        "a correction": lambda r: _value(r, "weigh", "lot")["corrections"][0].update(corrected="L-0099"),
        "a sample": lambda r: r["phases"][0]["parameters"][1]["samples"][0].update(value=59.0),
        "an exception": lambda r: next(e for e in r["exceptions"] if e["ref"].startswith("E:")).update(message="ok"),
        "a timeline entry": lambda r: r["timeline"][3].update(actor_id="someone.else"),
    }
    expected = {"a captured value": "net: first entry '10.20' in the record, '10.02' signed",
                "a signed first entry": "the first entry in the record is not what was signed",
                "a correction": "has no task.value_corrected entry", "a sample": "count/min/max",
                "an exception": "'ok' in the record", "a timeline entry": "actor_id is 'someone.else'"}
    for name, alter in cases.items():
        altered = copy.deepcopy(record)
        alter(altered)
        report = verify_record(db, altered, settings)
        assert not report.ok, name
        assert expected[name] in report.summary(), (name, report.summary())
    # the same from the command line: exit 0 for the export, 1 with the difference for an altered copy
    from click.testing import CliRunner

    from cli import gmp

    env = {"GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": settings.database_url,
           "GMP_SECRET_KEY": TEST_SECRET, "GMP_SERVER_KEY_PASSPHRASE": TEST_PASSPHRASE}
    exported, altered_file = tmp_path / "record.json", tmp_path / "altered.json"
    exported.write_text(json.dumps(record), encoding="utf-8")
    altered = copy.deepcopy(record)
    cases["a captured value"](altered)
    altered_file.write_text(json.dumps(altered), encoding="utf-8")
    good = CliRunner().invoke(gmp, ["records", "verify", str(exported)], env=env)
    assert good.exit_code == 0 and "matches the audit trail" in good.output and "audit trail intact" in good.output, \
        good.output
    bad = CliRunner().invoke(gmp, ["records", "verify", str(altered_file)], env=env)
    assert bad.exit_code == 1 and "does NOT match" in bad.output and "'10.02' signed" in bad.output, bad.output
    (tmp_path / "not-a-record.json").write_text("[1, 2]", encoding="utf-8")
    wrong = CliRunner().invoke(gmp, ["records", "verify", str(tmp_path / "not-a-record.json")], env=env)
    assert wrong.exit_code == 1 and "is not a record exported by `gmp records json`" in wrong.output, wrong.output


def _task(record, bpmn_id):  # type: ignore[no-untyped-def]
    return next(t for t in record["tasks"] if t["bpmn_id"] == bpmn_id)


def _value(record, bpmn_id, field):  # type: ignore[no-untyped-def]
    return next(v for v in _task(record, bpmn_id)["values"] if v["field"] == field)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} (poppler-utils)")
    return str(path)


@pytest.mark.req("P11-10b", "CN-6", "A11-8")
def test_the_pdf_is_pdfa_with_the_json_attached_key_and_page_numbers_on_every_page_and_chinese(batch, tmp_path):
    app, clients, db, ids = batch
    qa = clients["qa"]
    with qa.session_transaction() as sess:
        sess["lang"] = "zh"
    response = qa.get(f"/records/{ids['first']}.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(response.data)
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 2
    metadata = subprocess.run([_tool("pdfinfo"), "-meta", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert 'pdfaid:part="3" pdfaid:conformance="B"' in metadata  # PDF/A-3b
    listed = subprocess.run([_tool("pdfdetach"), "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert f"record-{ids['first']}.json" in listed
    subprocess.run([_tool("pdfdetach"), "-saveall", "-o", str(tmp_path), str(pdf)], check=True)
    attached = json.loads((tmp_path / f"record-{ids['first']}.json").read_text(encoding="utf-8"))
    assert attached["instance"]["business_key"] == "B-2026-0042" and attached["phases"][0]["element_id"] == "dry"
    for number in range(1, pages + 1):
        text = subprocess.run([_tool("pdftotext"), "-f", str(number), "-l", str(number), "-layout", str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert "B-2026-0042" in text, f"page {number} lacks the business key"
        assert f"第 {number} 页，共 {pages} 页" in text, f"page {number}: {text[-300:]}"
    whole = subprocess.run([_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert "颗粒" in whole and "王" in whole and "干燥汇总" in whole and "净重" in whole
    assert "SCALE-01.net_weight" in whole and "FBD-01.product_temp" in whole and "label misread" in whole
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run([_tool("pdftoppm"), "-png", "-r", "60", str(pdf), str(ARTIFACTS / "record-pdf")], check=True)
    assert sorted(ARTIFACTS.glob("record-pdf-*.png"))
