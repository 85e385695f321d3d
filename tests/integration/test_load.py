"""The load test's quick variant, for correctness only (no timings): operators complete signed
tasks over HTTP against the production server (gunicorn, two workers) on both backends, one
client then four at once; nothing is lost, nothing is done twice, the trail verifies, and the
bench's report of those windows names what it must (per client count: completions/s, p50,
p95; clients_ratio, p95_over_p50, errors, nothing lost). Two operators racing for the same
tasks: each task is completed exactly once, the loser is refused (never a 5xx)."""
from __future__ import annotations

import threading

import pytest

from bench import load

pytestmark = [pytest.mark.req("URS-OPS-003", "URS-OPS-001", "P11-10e"), pytest.mark.slow]


@pytest.fixture
def plant(settings, backend):  # type: ignore[no-untyped-def]
    prepared = load.prepare(backend, settings.database_url, settings.instance, operators=4, tasks=10, cheap_kdf=True)
    yield prepared
    prepared.db.dispose()


def test_concurrent_operators_lose_nothing(plant):  # type: ignore[no-untyped-def]
    from connectors.simulator.plant import free_port

    with load.Server(plant, 2, free_port()) as server:
        one = load.run_window(plant, server.port, 2, 1, seconds=300, max_tasks=2)
        four = load.run_window(plant, server.port, 2, 4, seconds=300, max_tasks=4)
        assert one.errors == four.errors == 0
        completed = one.completed + four.completed
        assert len(completed) == 6 and len(set(completed)) == 6
        # the same people race for the same four tasks
        contested = plant.tasks[:4]
        outcomes: dict[str, list[tuple[str, int]]] = {t: [] for t in contested}
        racers = [plant.sessions["op1"], plant.sessions["op2"]]

        def race(operator):  # type: ignore[no-untyped-def]
            for task_id in contested:
                ok, status = operator.try_complete(task_id)
                outcomes[task_id].append((operator.person.user_id, status))
                if ok:
                    plant.completed.append(task_id)

        threads = [threading.Thread(target=race, args=(op,)) for op in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for task_id, tries in outcomes.items():
        statuses = sorted(status for _, status in tries)
        assert statuses[-1] < 500 and statuses.count(200) == 1, (task_id, tries)
    checks = load.check_trail(plant, plant.completed)
    assert checks == {"audit_verify_ok": True, "completions_seen": 10, "all_in_trail": True,
                      "nothing_else_completed": True}
    # the bench's report of these windows carries what the issue names (figures: bench/load.py itself)
    report = load.summarise([one.summary(), four.summary()], {plant.backend: checks}, {}, True, 300.0, 1.0)
    figures = report[plant.backend]
    for clients in ("clients_1", "clients_4"):
        assert set(figures[clients]) == {"per_second", "p50_ms", "p95_ms", "max_ms"}
        assert figures[clients]["per_second"] > 0 and 0 < figures[clients]["p50_ms"] <= figures[clients]["p95_ms"]
    assert figures["clients_ratio"] == round(four.summary()["per_second"] / one.summary()["per_second"], 2)
    assert figures["p95_over_p50"] == four.summary()["p95_over_p50"] and figures["p95_over_p50"] >= 1
    assert report["errors"] == 0 and report["nothing_lost"] is True and figures["audit_verify_ok"] is True
