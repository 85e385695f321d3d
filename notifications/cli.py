"""`gmp notify`: the notification worker, as its own process (started by `gmp run`).

Each poll notifies open security alerts to administrators and overdue tasks to their lanes
(`notifications.alerts`, `notifications.overdue`) and, when GMP_SMTP_HOST is set, e-mails the
notifications not yet e-mailed to the addresses of `<instance>/notification_addresses.json`
(`notifications.delivery`). Does not import Flask.
"""
from __future__ import annotations

import json
import signal
import threading
from typing import Any, Callable

import click

from core.config import ConfigError, Settings, load_settings
from notifications.alerts import notify_security_alerts
from notifications.delivery import deliver_email, load_addresses
from notifications.errors import NotificationError
from notifications.overdue import notify_overdue
from store.db import Database


def poll_once(db: Database, settings: Settings) -> dict[str, Any]:
    """One poll: security alerts, overdue tasks, then e-mail. Errors are reported in the result, never raised."""
    overdue = notify_overdue(db, settings)
    report: dict[str, Any] = {"alerts": notify_security_alerts(db), "overdue": overdue.notified, "emailed": 0,
                              "errors": list(overdue.problems)}
    try:
        report["emailed"] = deliver_email(db, settings, load_addresses(settings))
    except NotificationError as exc:
        report["errors"].append(str(exc))
    return report


def run_forever(db: Database, settings: Settings, poll_seconds: float, stop: threading.Event,
                on_report: Callable[[dict[str, Any]], None]) -> None:
    """Poll until `stop` is set; a failing poll is reported and the next one runs as usual."""
    while not stop.is_set():
        on_report(poll_once(db, settings))
        stop.wait(poll_seconds)


@click.command("notify")
@click.option("--once", is_flag=True, help="Poll once (alerts, overdue tasks, then e-mail) and exit.")
@click.option("--poll-seconds", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between two polls.")
def notify(once: bool, poll_seconds: float) -> None:
    """Notify security alerts and overdue tasks; e-mail undelivered notifications (GMP_SMTP_HOST)."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    db = Database(settings.database_url)

    def report(result: dict[str, Any]) -> None:
        if result["alerts"] or result["overdue"] or result["emailed"] or result["errors"] or once:
            click.echo(json.dumps({"notify": result}), err=not once)

    try:
        if once:
            result = poll_once(db, settings)
            report(result)
            if result["errors"]:
                raise click.ClickException("; ".join(result["errors"]))
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        click.echo(f"notify polling every {poll_seconds:g} s", err=True)
        run_forever(db, settings, poll_seconds, stop, report)
    finally:
        db.dispose()
