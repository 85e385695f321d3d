"""Issue 16: the PQ runs the batch record end to end against the simulated plant (scenario "batch_record")."""
from __future__ import annotations

import pytest

from signatures import kdf


@pytest.mark.slow
@pytest.mark.req("URS-VAL-005", "P11-10a", "A11-4.4")
def test_the_pq_runs_batch_records_from_order_to_qp_release(db, settings, backend, request, tmp_path):
    from bpmn.glue import install
    from engine.runtime import using
    from validation_pack.pq import run_pq, scenarios

    runtime = install(db, settings)  # registers the library's PQ scenarios, as every gmp process does
    url = None  # SQLite: the PQ makes its own fresh file
    if backend == "postgresql":  # an empty database of its own
        server = request.getfixturevalue("pg_server")
        name = f"pq_{abs(hash(request.node.nodeid)) % 10**8}"
        server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.admin_execute(f"CREATE DATABASE {name}")
        request.addfinalizer(lambda: server.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        url = server.url(name)
    assert "batch_record" in scenarios()
    with using(runtime), kdf.unsafe_fast_kdf():
        result = run_pq(tmp_path / "pq", settings, scenario="batch_record", quick=True,
                        database_url=url)
    assert result["passed"], (result["result"]["errors"], result["batch_results"])
    assert result["batches"] == 2 and result["result"]["completed"] == 2 and result["audit_verification"]["ok"]
    assert all(b["path"].endswith("released") for b in result["batch_results"])
    # per batch: 13 signed steps or more (order, clearance, dispensing verified, set-points, reviews, release)
    assert result["result"]["signatures"] >= 2 * 13 and result["result"]["equipment_reads"] >= 2 * 4
