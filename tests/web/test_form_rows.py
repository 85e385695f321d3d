"""A form with repeating groups on the operator page: rows, exact decimals, per-row limits and
exceptions, a fixed grid of balance readings, labels in the user's language, maximum lengths;
the record (page, JSON, PDF), the signed task record and the audit entry keep the exact digits."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from signatures import kdf, testing
from tests.web.test_access_matrix import open_session

PROCESS = Path(__file__).parent / "processes" / "dispense_rows"


def deploy(db, settings, author, approver, directory: Path = PROCESS, key: str = "dispense_rows",  # type: ignore[no-untyped-def]
           title: str = "Batch B-042") -> int:
    from engine import definitions, instances
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    files = {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
    with UnitOfWork(db, author.actor) as uow:
        version = definitions.upload(uow, files, reason="first version", services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", approver.user_id, {
            "password": approver.password, "totp": testing.next_totp(db, approver)}), services=default_services(settings))
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        instance = instances.start(uow, key, title=title, settings=settings)
        uow.commit()
        return instance.id


@pytest.fixture
def rows_plant(app, db, settings, frozen_clock):  # type: ignore[no-untyped-def]
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        people = {name: testing.enrolled_user(db, settings, admin, name, full, [role]) for name, full, role in [
            ("alice", "Alice Operator", "operator"), ("bob", "Bob Verifier", "operator"),
            ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa")]}
    frozen_clock.advance(seconds=31)
    deploy(db, settings, people["quinn"], people["quentin"])
    client = app.test_client()
    open_session(db, client, people["alice"])
    tid = re.search(r'data-task="([^"]+)"', client.get("/tasks/").get_data(as_text=True)).group(1)
    return client, people, tid


def rows_form(**extra: str) -> dict[str, str]:
    """Two material rows as a browser posts them after a row was added and one removed (numbers 0 and 3)."""
    return {"csrf_token": "walk-token", "f:batch": "B-042",
            "r:materials.0": "1", "f:materials.0.material": "API-001", "f:materials.0.lot": "A-17",
            "f:materials.0.target": "10.1", "f:materials.0.net": "10.1",
            "r:materials.3": "1", "f:materials.3.material": "LAC-200", "f:materials.3.lot": "L-88",
            "f:materials.3.target": "2.5", "f:materials.3.net": "2.513",
            "r:balance_check.0": "1", "f:balance_check.0.reading": "1.001",
            "r:balance_check.1": "1", "f:balance_check.1.reading": "9.999", **extra}


def signed(db, people, data: dict[str, str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    alice, bob = people["alice"], people["bob"]
    return {**data, "sig_password": alice.password, "sig_totp": testing.next_totp(db, alice), "sig2_user_id": "bob",
            "sig2_password": bob.password, "sig2_totp": testing.next_totp(db, bob)}


@pytest.mark.req("URS-FRM-002", "URS-FRM-003", "URS-FRM-008", "URS-FRM-009", "URS-FRM-010", "ALCOA-ACCURATE")
def test_rows_with_exact_decimals_and_per_row_limits_complete_and_print(rows_plant, db, frozen_clock):
    from audit.models import AuditEntry
    from engine.models import InstanceTask

    client, people, tid = rows_plant
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "Materials dispensed" in page and 'name="f:materials.0.net"' in page and "<template" in page
    assert 'name="f:materials.__INDEX__.net"' in page and "Add a row" in page
    assert "0.998 – 1.002 kg</span>" in page and "9.998 – 10.002 kg" in page  # fixed rows from defaults
    labels = [t.strip() for t in re.findall(r"<(?:label|legend)[^>]*>([^<]*)", page) if t.strip()]
    keys = {"batch", "materials", "material", "lot", "target", "net", "deviation", "balance_check", "weight",
            "nominal", "reading", "remarks"}
    assert "Net weight" in labels and not keys & set(labels)  # titles, never raw keys
    # row 2 is outside its limits (2.5 kg ± 0.5 %): refused, named by row and field, nothing lost
    refused = client.post(f"/tasks/{tid}", data=signed(db, people, rows_form()))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Materials dispensed › row 2 › Net weight" in html
    assert "2.513 kg is outside the limits 2.4875 – 2.5125 kg: enter an exception comment to accept it." in html
    assert 'id="f-materials-1-net-error" role="alert"><p>2.513 kg' in html
    assert 'value="B-042"' in html and 'value="A-17"' in html and 'value="2.513"' in html
    assert '<details class="gmp-exception" open>' in html
    frozen_clock.advance(seconds=31)
    done = client.post(f"/tasks/{tid}", data=signed(db, people, rows_form(**{
        "exc:materials.3.net": "within the weighing tolerance of SOP-WD-002, DEV-2026-017"})))
    assert done.status_code == 200, done.get_data(as_text=True)
    with db.session() as s:
        body = json.loads(s.get(InstanceTask, tid).body)
        entry = s.query(AuditEntry).filter(AuditEntry.action == "task.completed").one()
        canonical = bytes(entry.canonical).decode()
    rows = body["data"]["materials"]
    assert rows[0]["net"] == {"typename": "Decimal", "value": "10.100"}  # x-gmp-decimals 3
    assert rows[1]["net"] == {"typename": "Decimal", "value": "2.513"}
    assert rows[1]["deviation"] == {"typename": "Decimal", "value": "0.52"}
    assert body["data"]["total_net"] == {"typename": "Decimal", "value": "12.613"} and body["data"]["material_count"] == 2
    assert body["data"]["_form"]["fields"]["materials.1.net"]["out_of_limits"] is True
    assert '"10.100"' in canonical and '"2.513"' in canonical and "10.09999" not in canonical
    assert set(body["data"]["_form"]["verification_fields"]) == {"materials.0.net", "materials.1.net"}
    # the signed task record holds the exact digits, and is rebuilt byte for byte from the stored task
    from engine.tasks import record_hash
    from web.corrections import task_document

    schema = json.loads((PROCESS / "forms" / "dispensing.json").read_text())
    ui = json.loads((PROCESS / "forms" / "dispensing.ui.json").read_text())
    with db.session() as s:
        first, _, _ = task_document(s, tid, schema, ui)
    assert first["data"]["materials"][1]["net"] == "2.513" and first["data"]["materials"][0]["net"] == "10.100"
    assert record_hash(first) == body["internal_data"]["gmp"]["record_hash"]

    record = json.loads(client.get("/records/1.json").get_data(as_text=True))
    [task] = record["tasks"]
    [materials, check] = task["tables"]
    assert materials["label"] == "Materials dispensed" and [c["label"] for c in materials["columns"]][:2] == \
        ["Material", "Material lot"]
    assert [[c and c["value"] for c in r["cells"]] for r in materials["rows"]] == [
        ["API-001", "A-17", "10.100", "10.100", "0.00"], ["LAC-200", "L-88", "2.500", "2.513", "0.52"]]
    assert [r["cells"][2]["value"] for r in check["rows"]] == ["1.001", "9.999"]
    assert record["exceptions"][0]["label"] == "Materials dispensed › row 2 › Net weight"
    listed = {v["label"]: v["value"] for v in task["values"] if not v.get("in_table")}
    assert listed["Total net weight"] == "12.613" and listed["Materials weighed"] == 2
    page = client.get("/records/1").get_data(as_text=True)
    assert 'data-rows="materials"' in page and "2.513" in page and "DEV-2026-017" in page
    pdf = client.get("/records/1.pdf")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.data, capture_output=True, check=True).stdout.decode()
    assert "Materials dispensed" in text and "2.513" in text and "10.100" in text and "DEV-2026-017" in text
    assert "10.099" not in text


@pytest.mark.req("URS-FRM-002", "URS-FRM-011", "URS-WEB-003")
def test_max_length_is_enforced_with_a_clear_error_and_rows_are_checked_one_by_one(rows_plant, db):
    client, people, tid = rows_plant
    response = client.post(f"/tasks/{tid}", data=signed(db, people, rows_form(**{
        "f:batch": "E" * 20008, "f:remarks": "r" * 4001, "f:materials.0.lot": "x" * 31,
        "f:materials.3.target": "2,5", "f:materials.3.material": "", "f:balance_check.1.reading": "9.9991"})))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter at most 40 characters (20008 entered)." in html
    assert "Enter at most 4000 characters (4001 entered)." in html  # the default for a multi-line field
    assert "Materials dispensed › row 1 › Material lot</a>: Enter at most 30 characters (31 entered)." in html
    assert "Materials dispensed › row 2 › Target</a>: Use a point for decimals (10.5, not 10,5)." in html
    assert "Materials dispensed › row 2 › Material</a>: This field is required." in html
    assert "Balance check before weighing › row 2 › Reading</a>: Enter at most 3 decimal places." in html
    assert 'value="9.9991"' in html and 'value="2,5"' in html  # what was typed stays on the page


@pytest.mark.req("URS-WEB-003", "URS-FRM-012", "CN-6")
def test_a_chinese_operator_reads_labels_and_errors_in_chinese_only(rows_plant, db):
    client, people, tid = rows_plant
    client.post("/language", data={"csrf_token": "walk-token", "language": "zh"})
    page = client.get(f"/tasks/{tid}").get_data(as_text=True)
    assert "配料明细" in page and "净重" in page and "乳糖 LAC-200" in page and "添加物料" in page
    response = client.post(f"/tasks/{tid}", data=signed(db, people, rows_form(**{
        "f:materials.0.target": "ten", "f:balance_check.1.reading": "10.5"})))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "配料明细 › 第 1 行 › 目标量</a>：请输入数字。" in html
    assert "10.500 kg 超出限度 9.998 – 10.002 kg：请填写异常说明后方可接受。" in html
    assert "数值超出限度：记录异常" in html and "偏差说明" not in html
    messages = re.findall(r'<div class="gmp-error" id="[^"]+" role="alert">(.*?)</div>', html)
    assert messages and not [m for m in messages if re.search(r"[A-Za-z]{3,}", re.sub(r"\d[\d.]* kg", "", m))]


@pytest.mark.req("URS-FRM-007", "URS-FRM-009", "CN-4", "A11-8")
def test_a_row_value_is_corrected_with_the_original_kept(rows_plant, db, frozen_clock):
    client, people, tid = rows_plant
    alice = people["alice"]
    done = client.post(f"/tasks/{tid}", data=signed(db, people, rows_form(**{"exc:materials.3.net": "DEV-9"})))
    assert done.status_code == 200, done.get_data(as_text=True)
    url = f"/records/1/tasks/{tid}/correct"
    form_page = client.get(url).get_data(as_text=True)
    assert '<option value="materials.0.net">Materials dispensed › row 1 › Net weight (now: 10.100 kg)</option>' in form_page
    frozen_clock.advance(seconds=31)
    base = {"csrf_token": "walk-token", "field": "materials.0.net", "reason": "transcription error",
            "sig_password": alice.password, "sig_totp": testing.next_totp(db, alice)}
    bad = client.post(url, data={**base, "value": "ten"})
    assert bad.status_code == 422 and "Enter a number." in bad.get_data(as_text=True)
    frozen_clock.advance(seconds=31)
    done = client.post(url, data={**base, "value": "10.09", "sig_totp": testing.next_totp(db, alice)})
    assert done.status_code == 302, done.get_data(as_text=True)
    record = json.loads(client.get("/records/1.json").get_data(as_text=True))
    cells = {c["field"]: c for r in record["tasks"][0]["tables"][0]["rows"] for c in r["cells"] if c}
    assert cells["materials.0.net"]["value"] == "10.090" and cells["materials.0.net"]["original"] == "10.100"
    assert cells["materials.0.net"]["changed_since_first_entry"]
    assert cells["materials.0.deviation"]["value"] == "-0.10" and cells["materials.0.deviation"]["recalculated"]
    total = {v["field"]: v for v in record["tasks"][0]["values"]}["total_net"]
    assert total["value"] == "12.603" and total["original"] == "12.613" and total["recalculated"]
    page = client.get("/records/1").get_data(as_text=True)
    assert "transcription error" in page and "10.100" in page and "10.090" in page
