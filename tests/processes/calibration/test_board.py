"""The instrument status board: every instrument in force with its status on the product clock,
due date and open work order, coloured by status; English and Chinese; not for administrators."""
from __future__ import annotations

import pytest

from tests.processes.calibration.test_calibration import calibrate_directly, work_order
from tests.web.conftest import app  # noqa: F401 - fixture
from tests.web.test_access_matrix import open_session


@pytest.mark.req("URS-CAL-005", "P11-10h", "CN-6")
def test_the_board_shows_every_instrument_coloured_by_status(app, cal):  # noqa: F811
    calibrate_directly(cal, "REF-P-01", -30)
    calibrate_directly(cal, "REF-P-02", -400)
    calibrate_directly(cal, "PT-102", -360, reference="REF-P-01")     # due in 5 days
    calibrate_directly(cal, "PT-103", -10)
    calibrate_directly(cal, "PT-103", 0, result="out_of_tolerance")
    work_order(cal)
    client = app.test_client()
    open_session(cal.db, client, cal["tom"])
    page = client.get("/calibration/").get_data(as_text=True)
    rows = [line for line in page.splitlines() if "<tr data-instrument=" in line]
    assert [r.split('"')[1:4:2] for r in rows] == [
        ["PT-103", "out_of_tolerance"], ["REF-P-02", "overdue"], ["REF-01", "not_calibrated"],
        ["TT-01", "not_calibrated"], ["WT-01", "not_calibrated"], ["PT-102", "due"], ["REF-P-01", "in_calibration"]]
    assert "CAL-PT-102-0001" in page and 'class="cal-status" data-status="overdue"' in page
    assert "Instrument status" in page and "FBD-01" in page
    client.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = client.get("/calibration/").get_data(as_text=True)
    assert "仪表状态" in page and "超出允差" in page and "已过期" in page
    open_session(cal.db, client, cal.admin)
    assert client.get("/calibration/").status_code == 403
