"""The documented example definition passes every upload check."""
from pathlib import Path

import pytest

from engine.checks import check_bundle
from engine.parsing import parse_bundle
from tests.engine.conftest import ALL_ROLES, MEANINGS

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "line_clearance"


@pytest.mark.req("URS-ENG-002")
def test_documented_example_is_valid(runtime):
    files = {str(p.relative_to(EXAMPLE)): p.read_bytes() for p in sorted(EXAMPLE.rglob("*")) if p.is_file()}
    bundle = parse_bundle(files)
    assert bundle.process_id == "line_clearance"
    assert check_bundle(bundle, roles=ALL_ROLES, meanings=MEANINGS, runtime=runtime) == []
