"""Operational master data records made in the browser (issue 11): a lot received into quarantine,
its QC status changed, equipment logbook entries; each signed in the signature dialog, refused with a
worded reason and nothing stored when the rules, the data or the signature say no."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from masterdata import equipment_log, lots
from masterdata.record_models import EquipmentLogRow, LotRow
from tests.web.conftest import app  # noqa: F401 - fixture
from tests.web.test_access_matrix import open_session

pytestmark = pytest.mark.req("URS-MD-004", "URS-MD-005", "P11-10g", "P11-10h", "P11-70", "CN-3")


def post(client, plant, user, url, **fields):  # type: ignore[no-untyped-def]
    """POST the form with the dialog's components for `user` (fresh TOTP step)."""
    plant.clock.advance(seconds=31)
    creds = plant.creds(user)
    return client.post(url, data={"csrf_token": "walk-token", "sig_password": creds.password,
                                  "sig_totp": creds.totp, **fields})


def count(plant, model) -> int:  # type: ignore[no-untyped-def]
    with plant.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def actions(plant) -> list[str]:  # type: ignore[no-untyped-def]
    with plant.db.session() as s:
        return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


LOT = {"lot": "L-2601", "material": "MAT-API", "supplier": "SUP-A", "supplier_lot": "A-77", "quantity": "25.5",
       "expiry": "2027-06-30", "note": "goods receipt GR-12"}


def test_a_lot_is_received_and_released_from_the_browser(app, stocked):  # noqa: F811
    plant, client = stocked, app.test_client()
    open_session(plant.db, client, plant["cora"])
    form = client.get("/plant/lots/receive").get_data(as_text=True)
    assert 'data-meaning="created"' in form and '<option value="MAT-API"' in form and '<option value="SUP-B"' in form

    refused = post(client, plant, "cora", "/plant/lots/receive", **{**LOT, "material": "MAT-NONE"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'data-testid="record-error"' in page and "MAT-NONE" in page
    assert 'value="L-2601"' in page and 'value="goods receipt GR-12"' in page  # entries kept
    wrong = client.post("/plant/lots/receive", data={"csrf_token": "walk-token", "sig_password": "not it",
                                                     "sig_totp": "000000", **LOT})
    assert wrong.status_code in (401, 422) and "record-error" in wrong.get_data(as_text=True)
    assert count(plant, LotRow) == 0  # nothing stored

    done = post(client, plant, "cora", "/plant/lots/receive", **LOT)
    assert done.status_code == 302 and done.headers["Location"].endswith("/plant/lots/L-2601/status")
    with plant.db.session() as s:
        state = lots.lot_state(s, "L-2601")
    assert (state.status, state.quantity, state.unit, state.received_by) == ("quarantine", "25.5", "kg", "cora")
    again = post(client, plant, "cora", "/plant/lots/receive", **LOT)
    assert again.status_code == 409 and "lot L-2601 was received already" in again.get_data(as_text=True)
    assert count(plant, LotRow) == 1

    page = client.get("/plant/lots/L-2601/status").get_data(as_text=True)
    assert 'data-status="quarantine"' in page and 'data-action="released"' in page
    no_reason = post(client, plant, "cora", "/plant/lots/L-2601/status/released", reason="")
    assert no_reason.status_code == 422
    released = post(client, plant, "cora", "/plant/lots/L-2601/status/released", reason="COA reviewed, ID test passed")
    assert released.status_code == 302
    page = client.get("/plant/lots/L-2601/status").get_data(as_text=True)
    assert 'data-testid="lot-state" data-status="released"' in page and "COA reviewed, ID test passed" in page
    assert client.get("/plant/lots/L-2601/status/nonsense").status_code == 404
    assert client.get("/plant/lots/L-NONE/status").status_code == 404

    open_session(plant.db, client, plant["alice"])  # an operator may not change a lot's QC status
    blocked = post(client, plant, "alice", "/plant/lots/L-2601/status/rejected", reason="damaged drum")
    assert blocked.status_code in (403, 422) and "qc" in blocked.get_data(as_text=True)
    with plant.db.session() as s:
        assert lots.lot_state(s, "L-2601").status == "released"
    trail = [a for a in actions(plant) if a.startswith(("md_lot.", "signature.refused"))]
    assert trail == ["md_lot.refused", "signature.refused", "md_lot.received", "md_lot.refused", "md_lot.refused",
                     "md_lot.released", "md_lot.refused"]  # every refusal on the record, nothing else stored

    client.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = client.get("/plant/lots/L-2601/status").get_data(as_text=True)
    assert "<h1>批号 L-2601</h1>" in page and "<th scope=\"row\">物料</th>" in page and "放行" in page


def test_equipment_logbook_entries_from_the_browser(app, stocked):  # noqa: F811
    plant, client = stocked, app.test_client()
    open_session(plant.db, client, plant["alice"])
    page = client.get("/plant/equipment/GR-01/logbook").get_data(as_text=True)
    assert 'data-action="clean"' in page and 'data-action="released"' not in page  # nothing to release yet
    assert post(client, plant, "alice", "/plant/equipment/GR-01/logbook/clean", note="").status_code == 422
    cleaned = post(client, plant, "alice", "/plant/equipment/GR-01/logbook/clean", note="cleaned per SOP-CLN-004")
    assert cleaned.status_code == 302
    form = client.get("/plant/equipment/GR-01/logbook/released").get_data(as_text=True)
    assert 'data-meaning="released"' in form
    refused = post(client, plant, "alice", "/plant/equipment/GR-01/logbook/released", note="looks fine")
    assert refused.status_code in (403, 422) and "supervisor" in refused.get_data(as_text=True)
    assert count(plant, EquipmentLogRow) == 1

    open_session(plant.db, client, plant["sam"])
    assert post(client, plant, "sam", "/plant/equipment/GR-01/logbook/released",
                note="visual inspection passed").status_code == 302
    with plant.db.session() as s:
        state = equipment_log.equipment_state(s, "GR-01")
        entries = equipment_log.logbook(s, "GR-01")
    assert state.status == "released" and [(e.status, e.entered_by) for e in entries] == [
        ("clean", "alice"), ("released", "sam")]
    page = client.get("/plant/equipment/GR-01/logbook").get_data(as_text=True)
    assert 'data-testid="equipment-status" data-status="released"' in page and "visual inspection passed" in page
    assert client.get("/plant/equipment/GR-01/logbook/in_use").status_code == 404  # set by the batch using it
    assert client.get("/plant/equipment/NOPE/logbook").status_code == 404
    open_session(plant.db, client, plant.admin)  # administrators see no GMP data
    assert client.get("/plant/equipment/GR-01/logbook").status_code == 403
