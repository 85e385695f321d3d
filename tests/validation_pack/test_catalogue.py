"""The requirements catalogue: every requirement with regulatory IDs and a GAMP 5 risk class."""
from pathlib import Path

import pytest

from validation_pack import catalogue
from validation_pack.catalogue import CatalogueError, Risk, requirements, served_by


@pytest.mark.req("URS-VAL-001", "A11-4.4")
def test_every_requirement_cites_regulatory_ids_and_carries_a_risk_assessment():
    reqs = requirements()
    assert [r.id for r in reqs.values() if not r.serves] == []
    assert [r.id for r in reqs.values() if r.risk is None] == []
    assert {r.risk.priority for r in reqs.values()} == {"high", "medium", "low"}


@pytest.mark.req("URS-VAL-001", "CN-10")
def test_the_catalogue_covers_the_whole_product_including_processes_not_built_yet():
    areas = {rid.split("-")[1] for rid in requirements()}
    assert {"ENG", "RUN", "SIG", "IDN", "AUD", "BCK", "CON", "FRM", "WEB", "MD", "SEC", "VAL",
            "EBR", "DEV", "DOC", "TRN", "CAL", "PTW", "SUP", "GATE"} <= areas
    assert [reg for reg, reqs in served_by().items() if not reqs] == []


@pytest.mark.req("URS-VAL-001")
@pytest.mark.parametrize("severity,probability,detectability,risk_class,priority", [
    ("H", "H", "L", 1, "high"), ("H", "L", "H", 2, "low"), ("M", "M", "M", 2, "medium"),
    ("L", "L", "L", 3, "medium"), ("L", "H", "H", 2, "low"), ("M", "H", "H", 1, "medium")])
def test_gamp5_risk_class_and_priority(severity, probability, detectability, risk_class, priority):
    risk = Risk(severity, probability, detectability)
    assert (risk.risk_class, risk.priority) == (risk_class, priority)


@pytest.mark.req("URS-VAL-001")
@pytest.mark.parametrize("value,message", [
    ({"severity": "H", "probability": "M"}, "risk must be"),
    ({"severity": "X", "probability": "M", "detectability": "L"}, "risk levels must be H, M or L"),
    ("high", "risk must be")])
def test_a_malformed_risk_assessment_is_refused_with_its_requirement(value, message):
    with pytest.raises(CatalogueError, match=f"area.yaml: URS-X-001: {message}"):
        catalogue._risk(Path("area.yaml"), "URS-X-001", value)
