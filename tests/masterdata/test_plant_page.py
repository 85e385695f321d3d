"""The plant status page shows what the gates would decide now: lot QC status and expiry,
equipment logbook status with its instruments' calibration, qualifications; in English and Chinese."""
from __future__ import annotations

import pytest

from masterdata import calibration, equipment_log, lots, qualifications
from tests.web.conftest import app  # noqa: F401 - fixture
from tests.web.test_access_matrix import open_session


@pytest.mark.req("URS-MD-001", "URS-MD-002", "URS-MD-004", "URS-MD-005", "CN-6")
def test_the_plant_page_shows_states_on_the_product_clock(app, stocked):  # noqa: F811
    plant = stocked
    plant.act("cora", lots.receive_lot, lot="L-OLD", material="MAT-API", supplier="SUP-A", quantity="5", unit="kg",
              expiry="2026-01-04")
    plant.act("alice", equipment_log.log_equipment, "GR-01", "clean", note="per SOP")
    plant.act("mike", calibration.record_calibration, "TT-01", calibrated_on="2025-06-01", result="pass")
    plant.act("tess", qualifications.grant_qualification, "alice", "SOP-PRD-012", 4, basis="trained",
              granted_on="2025-01-04", valid_until="2026-01-04")
    client = app.test_client()
    open_session(plant.db, client, plant["alice"])
    page = client.get("/plant/").get_data(as_text=True)
    assert '<tr data-lot="L-OLD" data-status="quarantine">' in page and "expired" in page
    assert '<tr data-equipment="GR-01" data-status="clean">' in page
    assert '<span data-instrument="TT-01" data-status="overdue">' in page
    assert '<tr data-user="alice" data-sop="SOP-PRD-012" data-state="expired">' in page
    assert "Plant status" in page
    client.post("/language", data={"language": "zh", "csrf_token": "walk-token"})
    page = client.get("/plant/?user=bob").get_data(as_text=True)
    assert "工厂状态" in page and "待验" in page and "已过期" in page and 'data-user="alice"' not in page
    open_session(plant.db, client, plant.admin)
    assert client.get("/plant/").status_code == 403  # administrators see no GMP data
