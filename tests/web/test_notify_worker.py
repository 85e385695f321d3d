"""The `gmp notify` worker: overdue tasks notified once, e-mail through a real SMTP server on 127.0.0.1."""
from __future__ import annotations

import dataclasses
import json
import socket
import socketserver
import threading
from typing import Iterator

import pytest
from click.testing import CliRunner

from notifications.alerts import notify_security_alerts
from notifications.cli import notify as notify_command
from notifications.cli import poll_once, run_forever
from notifications.delivery import deliver_email, load_addresses
from notifications.errors import AddressBookInvalid, EmailDeliveryFailed
from notifications.models import Notification
from notifications.overdue import OVERDUE_KIND, notify_overdue, parse_due
from notifications.queue import notify
from signatures import kdf, testing
from store.uow import UnitOfWork
from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
from tests.web.test_notifications import start_approved_chain


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        server: SmtpServer = self.server  # type: ignore[assignment]
        self.reply("220 test SMTP ready")
        recipients: list[str] = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            verb = raw.decode().strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 test")
            elif verb == "MAIL":
                if server.refuse_after is not None and len(server.messages) >= server.refuse_after:
                    self.reply("554 5.7.1 refused by the test server")
                else:
                    recipients = []
                    self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(raw.decode().split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line)
                server.messages.append((recipients, b"".join(lines).decode()))
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.messages: list[tuple[list[str], str]] = []
        self.refuse_after: int | None = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_smtp(settings, port: int):  # type: ignore[no-untyped-def]
    return dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=port)


def _queued(db) -> list[Notification]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        rows = list(session.query(Notification).order_by(Notification.id))
        session.expunge_all()
        return rows


def _running_chain(db, settings, frozen_clock, data=None):  # type: ignore[no-untyped-def]
    """Alice and Bob (operators), Carol (qa) and one running two-step instance whose first task is ready."""

    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"], accountability=False)
        testing.enrolled_user(db, settings, admin, "bob", "Bob Operator", ["operator"], accountability=False)
        quinn = testing.enrolled_user(db, settings, admin, "quinn", "Quinn QA", ["qa"])
        quentin = testing.enrolled_user(db, settings, admin, "quentin", "Quentin QA", ["qa"])
    frozen_clock.advance(seconds=31)
    return start_approved_chain(db, settings, quinn, quentin, data)


@pytest.mark.req("URS-WEB-004")
def test_a_task_waiting_too_long_is_notified_once_to_its_lane(db, settings, frozen_clock):
    _running_chain(db, settings, frozen_clock)
    assert notify_overdue(db, settings).notified == 0  # just became ready
    frozen_clock.advance(hours=settings.notify_overdue_hours, seconds=1)
    result = notify_overdue(db, settings)
    assert (result.notified, result.problems) == (2, [])
    rows = [r for r in _queued(db) if r.kind == OVERDUE_KIND]
    assert sorted(r.user_id for r in rows) == ["alice", "bob"]  # the operator lane, not QA
    assert rows[0].title == "Overdue: Step 0" and rows[0].link.startswith("/tasks/") and "Two steps" in rows[0].body
    frozen_clock.advance(hours=48)
    assert notify_overdue(db, settings).notified == 0  # once only
    assert len([r for r in _queued(db) if r.kind == OVERDUE_KIND]) == 2


@pytest.mark.req("URS-WEB-004")
def test_a_task_past_its_due_at_is_notified_before_the_waiting_limit(db, settings, frozen_clock):
    _running_chain(db, settings, frozen_clock, data={"due_at": "2026-01-05T09:00:00Z"})
    assert notify_overdue(db, settings).notified == 0
    frozen_clock.advance(hours=1)
    assert notify_overdue(db, settings).notified == 2
    assert "due at 2026-01-05T09:00:00" in _queued(db)[0].body
    assert notify_overdue(db, settings).notified == 0


def test_an_unreadable_due_at_is_reported_and_the_waiting_limit_still_applies(db, settings, frozen_clock):
    _running_chain(db, settings, frozen_clock, data={"due_at": "next tuesday"})
    frozen_clock.advance(hours=settings.notify_overdue_hours + 1)
    result = notify_overdue(db, settings)
    assert result.notified == 2
    assert len(result.problems) == 1 and "next tuesday" in result.problems[0]


def test_parse_due_accepts_dates_and_zoned_times_only():
    assert parse_due("2026-01-05").isoformat() == "2026-01-06T00:00:00+00:00"
    assert parse_due("2026-01-05T10:00:00+01:00").hour == 10
    with pytest.raises(ValueError, match="no time zone"):
        parse_due("2026-01-05T10:00:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_due(5)


def _alert(db, user_id: str, acknowledged: bool = False) -> int:  # type: ignore[no-untyped-def]
    from core import clock
    from signatures.models import SecurityAlert

    with db.session() as session:
        alert = SecurityAlert(created_at=clock.now(), kind="account_locked", user_id=user_id,
                              message=f"account {user_id} locked after 5 failed attempts",
                              acknowledged_at=clock.now() if acknowledged else None,
                              acknowledged_by="admin" if acknowledged else None)
        session.add(alert)
        session.commit()
        return int(alert.id)


@pytest.mark.req("P11-300d")
def test_open_security_alerts_are_notified_once_to_administrators(db, settings, frozen_clock):
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"], accountability=False)
    assert notify_security_alerts(db) == 0
    _alert(db, "bob", acknowledged=True)
    first = _alert(db, "alice")
    assert notify_security_alerts(db) == 1
    assert notify_security_alerts(db) == 0  # once only
    _alert(db, "carol")
    assert notify_security_alerts(db) == 1
    rows = _queued(db)
    assert [(r.user_id, r.kind) for r in rows] == [("admin", "security_alert")] * 2  # administrators only
    assert rows[0].link == f"/admin/alerts#alert-{first}" and "alice locked" in rows[0].body


@pytest.mark.req("URS-WEB-004")
def test_undelivered_notifications_are_emailed_once(db, settings, frozen_clock, smtp):
    with UnitOfWork(db) as uow:
        notify(uow, "alice", "task_assigned", "Weigh the material", "Batch B-001", "/tasks/")
        notify(uow, "nobody", "task_assigned", "No address")
        uow.commit()
    configured = _with_smtp(settings, smtp.server_address[1])
    assert deliver_email(db, configured, {"alice": "alice@example.org"}) == 1
    assert len(smtp.messages) == 1
    recipients, text = smtp.messages[0]
    assert recipients == ["alice@example.org"] and "Subject: Weigh the material" in text and "Batch B-001" in text
    alice, nobody = _queued(db)
    assert alice.emailed_at is not None and nobody.emailed_at is None
    assert deliver_email(db, configured, {"alice": "alice@example.org"}) == 0  # never twice
    assert len(smtp.messages) == 1


def test_an_unreachable_smtp_server_leaves_everything_queued(db, settings, frozen_clock):
    with UnitOfWork(db) as uow:
        notify(uow, "alice", "task_assigned", "Weigh the material")
        uow.commit()
    with pytest.raises(EmailDeliveryFailed, match="failed after 0 sent, 1 left queued"):
        deliver_email(db, _with_smtp(settings, _closed_port()), {"alice": "alice@example.org"})
    assert [r.emailed_at for r in _queued(db)] == [None]


def test_a_refusing_smtp_server_keeps_what_was_not_sent(db, settings, frozen_clock, smtp):
    with UnitOfWork(db) as uow:
        for n in range(3):
            notify(uow, "alice", "task_assigned", f"Task {n}")
        uow.commit()
    smtp.refuse_after = 1
    configured = _with_smtp(settings, smtp.server_address[1])
    with pytest.raises(EmailDeliveryFailed, match="554.*refused by the test server"):
        deliver_email(db, configured, {"alice": "alice@example.org"})
    assert [r.emailed_at is not None for r in _queued(db)] == [True, False, False]
    smtp.refuse_after = None
    assert deliver_email(db, configured, {"alice": "alice@example.org"}) == 2  # the rest, on the next poll
    assert [m[1].split("Subject: ")[1].splitlines()[0] for m in smtp.messages] == ["Task 0", "Task 1", "Task 2"]


def test_address_book_must_map_users_to_addresses(settings):
    assert load_addresses(settings) == {}
    book = settings.instance_path + "/notification_addresses.json"
    with open(book, "w", encoding="utf-8") as handle:
        json.dump({"alice": "alice@example.org"}, handle)
    assert load_addresses(settings) == {"alice": "alice@example.org"}
    with open(book, "w", encoding="utf-8") as handle:
        json.dump({"alice": "not an address"}, handle)
    with pytest.raises(AddressBookInvalid, match="user id -> e-mail address"):
        load_addresses(settings)
    with open(book, "w", encoding="utf-8") as handle:
        handle.write("{broken")
    with pytest.raises(AddressBookInvalid, match="notification_addresses.json"):
        load_addresses(settings)


def test_poll_reports_errors_without_raising(db, settings, frozen_clock):
    with UnitOfWork(db) as uow:
        notify(uow, "alice", "task_assigned", "Weigh the material")
        uow.commit()
    with open(settings.instance_path + "/notification_addresses.json", "w", encoding="utf-8") as handle:
        json.dump({"alice": "alice@example.org"}, handle)
    report = poll_once(db, _with_smtp(settings, _closed_port()))
    assert report["emailed"] == 0 and len(report["errors"]) == 1 and "left queued" in report["errors"][0]


def test_the_polling_loop_survives_a_failing_poll_and_delivers_on_the_next(db, settings, frozen_clock, smtp):
    with UnitOfWork(db) as uow:
        notify(uow, "alice", "task_assigned", "Weigh the material")
        uow.commit()
    with open(settings.instance_path + "/notification_addresses.json", "w", encoding="utf-8") as handle:
        json.dump({"alice": "alice@example.org"}, handle)
    smtp.refuse_after = 0
    configured = _with_smtp(settings, smtp.server_address[1])
    stop = threading.Event()
    reports: list[dict] = []

    def on_report(report: dict) -> None:
        reports.append(report)
        smtp.refuse_after = None  # the server recovers after the first poll
        if len(reports) == 2:
            stop.set()

    run_forever(db, configured, 0.1, stop, on_report)
    assert [r["emailed"] for r in reports] == [0, 1]
    assert "refused by the test server" in reports[0]["errors"][0] and reports[1]["errors"] == []
    assert _queued(db)[0].emailed_at is not None and len(smtp.messages) == 1


def _env(settings, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": settings.database_url,
            "GMP_SECRET_KEY": TEST_SECRET, "GMP_SERVER_KEY_PASSPHRASE": TEST_PASSPHRASE, **extra}


@pytest.mark.req("URS-WEB-004")
def test_gmp_notify_once_emails_and_marks(db, settings, frozen_clock, smtp):
    with UnitOfWork(db) as uow:
        notify(uow, "alice", "security_alert", "Account locked", "bob: 5 failed attempts")
        uow.commit()
    with open(settings.instance_path + "/notification_addresses.json", "w", encoding="utf-8") as handle:
        json.dump({"alice": "alice@example.org"}, handle)
    runner = CliRunner()
    env = _env(settings, GMP_SMTP_HOST="127.0.0.1", GMP_SMTP_PORT=str(smtp.server_address[1]))
    result = runner.invoke(notify_command, ["--once"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["notify"] == {"alerts": 0, "overdue": 0, "emailed": 1, "errors": []}
    assert _queued(db)[0].emailed_at is not None and len(smtp.messages) == 1


def test_gmp_notify_once_fails_visibly_when_smtp_is_unreachable(db, settings, frozen_clock):
    with UnitOfWork(db) as uow:
        notify(uow, "alice", "task_assigned", "Weigh the material")
        uow.commit()
    with open(settings.instance_path + "/notification_addresses.json", "w", encoding="utf-8") as handle:
        json.dump({"alice": "alice@example.org"}, handle)
    env = _env(settings, GMP_SMTP_HOST="127.0.0.1", GMP_SMTP_PORT=str(_closed_port()))
    result = CliRunner().invoke(notify_command, ["--once"], env=env)
    assert result.exit_code == 1 and "left queued" in result.output
    assert _queued(db)[0].emailed_at is None


def test_gmp_notify_is_a_gmp_command():
    from cli import COMMANDS

    assert COMMANDS["notify"] == "notifications.cli:notify"
