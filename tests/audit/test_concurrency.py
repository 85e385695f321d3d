"""Concurrent writer processes never fork or break the chain (URS-AUD-006)."""
from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, select

from audit.checkpoints import current_key, log_path, read_log
from audit.models import AuditEntry
from audit.verify import verify_trail

WRITERS = 4
COMMITS = 12


def _writer(number: int, overrides: dict[str, str]) -> None:
    from audit.canonical import Actor
    from audit.checkpoints import enable_periodic
    from core.config import load_settings
    from store.db import Database
    from store.uow import UnitOfWork

    settings = load_settings(overrides, environ={})
    db = Database(settings.database_url)
    enable_periodic(db, settings)
    actor = Actor(f"writer{number}", f"Writer {number}")
    try:
        for commit in range(COMMITS):
            with UnitOfWork(db, actor) as uow:
                uow.audit("probe.written", "probe", f"{number}-{commit}", details={"writer": number})
                if commit % 3 == 0:
                    uow.audit("probe.noted", "probe", f"{number}-{commit}")
                uow.commit()
    finally:
        db.dispose()


@pytest.mark.req("URS-AUD-006", "P11-10e")
def test_concurrent_writer_processes_keep_one_intact_chain(db, settings):
    current_key(settings)  # the server key exists before the writers start
    overrides = {"instance_path": str(settings.instance), "database_url": settings.database_url,
                 "secret_key": settings.secret_key, "server_key_passphrase": settings.server_key_passphrase,
                 "checkpoint_interval_entries": "10"}
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(n, overrides)) for n in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    per_writer = COMMITS + len(range(0, COMMITS, 3))
    report = verify_trail(db, settings)
    assert report.entries == report.head_seq == WRITERS * per_writer
    with db.session() as s:
        counts = dict(s.execute(select(AuditEntry.actor_id, func.count()).group_by(AuditEntry.actor_id)).all())
    assert counts == {f"writer{n}": per_writer for n in range(WRITERS)}
    logged = read_log(log_path(settings))
    assert logged and all(c.seq <= report.head_seq for c in logged)
    assert report.newest_checkpoint is not None
