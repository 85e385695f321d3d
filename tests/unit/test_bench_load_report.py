"""bench/load.py's report from its measuring windows: the PostgreSQL worker scaling
(`scale_ratio`, 2 workers over 1 at 4 clients), the client scaling per backend (`clients_ratio`,
`p95_over_p50` at 4 clients), errors and "nothing lost" (tests/integration/test_load.py runs
the windows themselves over HTTP)."""
from __future__ import annotations

import pytest

from bench.load import summarise

pytestmark = pytest.mark.req("URS-OPS-003")


def window(backend: str, workers: int, clients: int, per_second: float, p50: float, p95: float,
           errors: int = 0) -> dict[str, object]:
    return {"backend": backend, "workers": workers, "clients": clients, "completions": int(per_second * 10),
            "per_second": per_second, "p50_ms": p50, "p95_ms": p95, "max_ms": p95 + 10, "errors": errors,
            "p95_over_p50": round(p95 / p50, 2)}


GOOD = {"audit_verify_ok": True, "completions_seen": 40, "all_in_trail": True, "nothing_else_completed": True}


def test_the_report_names_every_figure_the_load_test_promises():
    windows = [window("sqlite", 2, 1, 5.0, 180.0, 220.0), window("sqlite", 2, 4, 9.5, 400.0, 600.0),
               window("postgresql", 1, 4, 4.0, 900.0, 1300.0), window("postgresql", 2, 1, 4.5, 200.0, 260.0),
               window("postgresql", 2, 4, 7.0, 520.0, 780.0), window("postgresql", 4, 4, 7.4, 500.0, 900.0)]
    report = summarise(windows, {"sqlite": GOOD, "postgresql": GOOD}, {"ready_tasks": 10}, True, 3.0, 60.0)
    assert report["scale_ratio"] == 1.75 and report["scale_ratio_4"] == 1.85
    assert report["postgresql_workers"] == {"1": {"per_second": 4.0, "p50_ms": 900.0, "p95_ms": 1300.0},
                                            "2": {"per_second": 7.0, "p50_ms": 520.0, "p95_ms": 780.0},
                                            "4": {"per_second": 7.4, "p50_ms": 500.0, "p95_ms": 900.0}}
    assert report["sqlite"]["clients_ratio"] == 1.9 and report["sqlite"]["p95_over_p50"] == 1.5
    assert report["postgresql"]["clients_ratio"] == 1.56 and report["postgresql"]["clients_4"]["p95_ms"] == 780.0
    assert report["errors"] == 0 and report["nothing_lost"] is True
    assert report["goals"] == {"scale_ratio_min": 1.5, "clients_ratio_min": 1.6, "p95_over_p50_max": 2, "errors": 0}


def test_errors_and_anything_lost_are_reported():
    windows = [window("sqlite", 2, 1, 5.0, 180.0, 220.0), window("sqlite", 2, 4, 9.0, 400.0, 600.0, errors=2)]
    lost = {**GOOD, "all_in_trail": False}
    report = summarise(windows, {"sqlite": lost}, {}, True, 3.0, 10.0)
    assert report["errors"] == 2 and report["nothing_lost"] is False and report["sqlite"]["all_in_trail"] is False
    assert "scale_ratio" not in report  # no PostgreSQL worker windows: no worker scaling claimed
    assert summarise([], {}, {}, True, 3.0, 1.0)["nothing_lost"] is False  # nothing checked proves nothing
