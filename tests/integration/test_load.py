"""The load test's quick variant, for correctness only (no timings): operators complete signed
tasks concurrently over HTTP against the production server (gunicorn, two workers) on both
backends; nothing is lost, nothing is done twice, the trail verifies. Two operators racing
for the same tasks: each task is completed exactly once, the loser is refused (never a 5xx)."""
from __future__ import annotations

import threading

import pytest

from bench import load

pytestmark = [pytest.mark.req("URS-OPS-003", "URS-OPS-001", "P11-10e"), pytest.mark.slow]


@pytest.fixture
def plant(settings, backend):  # type: ignore[no-untyped-def]
    prepared = load.prepare(backend, settings.database_url, settings.instance, operators=2, tasks=10, cheap_kdf=True)
    yield prepared
    prepared.db.dispose()


def test_concurrent_operators_lose_nothing(plant):  # type: ignore[no-untyped-def]
    from connectors.simulator.plant import free_port

    with load.Server(plant, 2, free_port()) as server:
        window = load.run_window(plant, server.port, 2, 2, seconds=300, max_tasks=6)
        assert window.errors == 0
        assert len(window.completed) == 6 and len(set(window.completed)) == 6
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
