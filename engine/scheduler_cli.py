"""`gmp scheduler`: fire due timers and run long operators, as its own process."""
from __future__ import annotations

import json
import signal
import threading
from typing import Any

import click

from core.config import ConfigError, load_settings


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Poll once (discover, fire what is due, run pending operators) and exit.")
@click.option("--poll-seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between two polls.")
@click.option("--name", default=None, help="Name recorded on what this scheduler fires (default host:pid).")
def scheduler(once: bool, poll_seconds: float, name: str | None) -> None:
    """Fire due BPMN timers and run long-running operators against the configured database.

    Several schedulers may run against one PostgreSQL database: each timer fires once.
    """
    from engine.scheduler import Scheduler
    from store.db import Database

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    from audit.checkpoints import enable_periodic

    db = Database(settings.database_url)
    enable_periodic(db, settings)  # signed audit checkpoints every N entries, as in the web server
    worker = Scheduler(db, settings, name=name)

    def report(result: Any) -> None:
        counts = result.as_dict()
        if any(counts.values()) or once:
            click.echo(json.dumps({"scheduler": worker.name, **counts}), err=not once)

    try:
        if once:
            report(worker.run_once())
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        click.echo(f"scheduler {worker.name} polling every {poll_seconds:g} s", err=True)
        worker.run_forever(poll_seconds, stop, on_report=report)
    finally:
        db.dispose()
