"""The traceability matrix lists gaps both ways, never hides them."""
import pytest

from core.config import PROJECT_ROOT
from validation_pack.catalogue import requirements
from validation_pack.trace import matrix


def record(nodeid, reqs, outcome="passed"):
    return {"nodeid": nodeid, "requirements": reqs, "outcome": outcome}


@pytest.mark.req("URS-VAL-002", "A11-4.4")
def test_matrix_statuses_and_gaps_both_ways():
    records = [record("t::a", ["URS-AUD-003"]), record("t::b", ["URS-AUD-002"], "failed"),
               record("t::c", ["URS-AUD-002"])]
    inventory = [{"nodeid": "t::a", "requirements": ["URS-AUD-003"]},
                 {"nodeid": "t::d", "requirements": ["URS-SIG-001"]},
                 {"nodeid": "t::untraced", "requirements": []}]
    result = matrix(records, inventory)
    rows = {r["requirement"]["id"]: r for r in result["rows"]}
    assert rows["URS-AUD-003"]["status"] == "passed"
    assert rows["URS-AUD-002"]["status"] == "failed"  # one failing test fails the requirement
    assert rows["URS-SIG-001"]["status"] == "not run" and rows["URS-SIG-001"]["other_tests"] == ["t::d"]
    assert rows["URS-EBR-007"]["status"] == "no test"
    gaps = {(g["kind"], g["id"]) for g in result["gaps"]}
    assert ("requirement with failing test", "URS-AUD-002") in gaps
    assert ("requirement not tested in this run", "URS-SIG-001") in gaps
    assert ("requirement without test", "URS-EBR-007") in gaps
    assert ("test without requirement", "t::untraced") in gaps
    not_built = {r.id for r in requirements().values() if any(not (PROJECT_ROOT / d).exists() for d in r.design)}
    assert {g["id"] for g in result["gaps"] if g["kind"] == "design element not built"} == not_built
    assert ("requirement without test", "URS-AUD-003") not in gaps
    assert result["counts"]["passed"] == 1 and result["tests_without_requirement"] == 1
