"""Inboxes and record lists are filtered and paginated on the server; pages that only read
take no write lock (a signing in progress does not hold them up)."""
from __future__ import annotations

import re
import threading

import pytest

from tests.web.test_access_matrix import open_session
from tests.web.test_operator import plant  # noqa: F401 - the fixture

pytestmark = pytest.mark.req("URS-OPS-002")


def start_more(db, settings, person, titles) -> None:  # type: ignore[no-untyped-def]
    from engine import instances
    from store.uow import UnitOfWork

    for title in titles:
        with UnitOfWork(db, person.actor) as uow:
            instances.start(uow, "dispense", title=title, settings=settings)
            uow.commit()


def shown_tasks(page: str) -> list[str]:
    return re.findall(r'data-task="([^"]+)"', page)


def test_inbox_pages_and_filters_on_the_server(plant, db, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    client, people = plant
    start_more(db, settings, people["quinn"], [f"Batch B-00{n}" for n in range(2, 8)])  # 7 ready tasks in all
    first = client.get("/tasks/?per_page=3").get_data(as_text=True)
    assert len(shown_tasks(first)) == 3
    assert "Page 1 of 3 (7 in all)" in first and 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get("/tasks/?per_page=3&page=3").get_data(as_text=True)
    assert len(shown_tasks(last)) == 1 and 'rel="prev"' in last and 'rel="next"' not in last
    assert not set(shown_tasks(first)) & set(shown_tasks(last))
    beyond = client.get("/tasks/?per_page=3&page=99").get_data(as_text=True)
    assert "Page 3 of 3" in beyond  # a page past the end shows the last one
    found = client.get("/tasks/?q=B-005").get_data(as_text=True)
    assert len(shown_tasks(found)) == 1 and "Batch B-005" in found
    assert len(shown_tasks(client.get("/tasks/?q=%23" + re.search(r"#(\d+)", found).group(1)).get_data(as_text=True))) == 1
    none = client.get("/tasks/?q=no-such-batch%25").get_data(as_text=True)
    assert shown_tasks(none) == [] and "No task matches the filter." in none
    assert shown_tasks(client.get("/tasks/?lane=qa").get_data(as_text=True)) == []  # a role alice does not hold
    assert len(shown_tasks(client.get("/tasks/?lane=operator").get_data(as_text=True))) == 7


def test_inbox_page_query_counts_in_the_database(plant, db, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    from engine.listing import MAX_PER_PAGE, inbox_page
    from engine.ports import default_services
    from store.uow import UnitOfWork

    client, people = plant
    start_more(db, settings, people["quinn"], ["Batch B-002", "Batch B-003"])
    with UnitOfWork(db, people["alice"].actor, read_only=True) as uow:
        page = inbox_page(uow, "alice", services=default_services(settings), per_page=2, page=2)
        assert (page.total, page.pages, len(page.items), page.has_previous, page.has_next) == (3, 2, 1, True, False)
        huge = inbox_page(uow, "alice", services=default_services(settings), per_page=10_000, page=-4)
        assert (huge.per_page, huge.page, len(huge.items)) == (MAX_PER_PAGE, 1, 3)
        assert inbox_page(uow, "nobody", services=default_services(settings)).total == 0


def test_records_list_pages_and_filters(plant, db, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    client, people = plant
    start_more(db, settings, people["quinn"], [f"Batch C-{n}" for n in range(4)])
    open_session(db, client, people["quinn"])
    page = client.get("/records/?per_page=2").get_data(as_text=True)
    assert len(re.findall(r'data-instance="', page)) == 2 and "Page 1 of 3 (5 in all)" in page
    assert "Batch C-3" in page  # newest first
    filtered = client.get("/records/?q=c-1&status=running").get_data(as_text=True)
    assert re.findall(r"Batch C-\d", filtered) == ["Batch C-1"]
    assert "No records yet." in client.get("/records/?status=cancelled").get_data(as_text=True)


def test_a_page_is_served_while_another_transaction_holds_the_write_lock(plant, db):  # type: ignore[no-untyped-def]  # noqa: F811
    from sqlalchemy import text

    client, people = plant
    with client.session_transaction() as sess:
        sid = sess["sid"]
    writer = db.session()  # a signing in progress: it holds the write lock (SQLite) and the session's row
    writer.execute(text("UPDATE auth_session SET client = 'busy' WHERE id = :sid"), {"sid": sid})
    result: dict[str, int] = {}
    reader = threading.Thread(target=lambda: result.update(status=client.get("/tasks/").status_code))
    try:
        reader.start()
        reader.join(timeout=20)
        assert not reader.is_alive(), "the page waited for the writer's lock"
        assert result["status"] == 200
    finally:
        writer.rollback()
        writer.close()
        reader.join()


def test_the_audit_trail_and_record_pages_are_served_while_another_transaction_holds_the_write_lock(
        plant, app, db):  # type: ignore[no-untyped-def]  # noqa: F811
    """An auditor reading the trail or a record is not queued behind a signing in progress."""
    from sqlalchemy import text

    client, people = plant
    qa = app.test_client()
    open_session(db, qa, people["quinn"])
    with client.session_transaction() as sess:
        sid = sess["sid"]
    writer = db.session()  # alice signing: her transaction holds the write lock (SQLite)
    writer.execute(text("UPDATE auth_session SET client = 'busy' WHERE id = :sid"), {"sid": sid})
    result: dict[str, int] = {}
    pages = ["/audit/", "/audit/record/process_instance/1", "/records/1"]

    def read() -> None:
        for url in pages:
            result[url] = qa.get(url).status_code

    reader = threading.Thread(target=read)
    try:
        reader.start()
        reader.join(timeout=20)
        assert not reader.is_alive(), f"a page waited for the writer's lock (served: {result})"
        assert result == {url: 200 for url in pages}
    finally:
        writer.rollback()
        writer.close()
        reader.join()


def test_a_read_only_unit_of_work_refuses_to_write(db):  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from audit.models import AuditEntry
    from signatures.models import Role
    from store.db import ReadOnlyWrite
    from store.uow import UnitOfWork

    with UnitOfWork(db, read_only=True) as uow:
        uow.session.add(Role(name="sneaky", kind="business", description="x"))
        with pytest.raises(ReadOnlyWrite, match="may not change Role"):
            uow.session.flush()
    with UnitOfWork(db, read_only=True) as uow:
        uow.audit("thing.changed", "thing", 1)
        with pytest.raises(ReadOnlyWrite, match="cannot write audit entries"):
            uow.commit()
    with UnitOfWork(db, read_only=True) as uow:  # a refusal is still recorded, in its own transaction
        uow.record_refusal("access.refused", "page", "x", reason="test")
        uow.commit()
    with db.read_session() as session:
        assert session.execute(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.action == "access.refused")).scalar_one() == 1


def test_activity_is_marked_at_most_every_half_minute(plant, db, frozen_clock):  # type: ignore[no-untyped-def]  # noqa: F811
    from signatures.models import AuthSession

    client, people = plant
    with client.session_transaction() as sess:
        sid = sess["sid"]

    def last_activity():  # type: ignore[no-untyped-def]
        with db.read_session() as session:
            return session.get(AuthSession, sid).last_activity_at

    opened = last_activity()
    frozen_clock.advance(seconds=10)
    assert client.get("/tasks/").status_code == 200
    assert last_activity() == opened  # a read within 30 s of the last mark writes nothing
    frozen_clock.advance(seconds=25)
    assert client.get("/tasks/").status_code == 200
    assert last_activity() == frozen_clock()
    frozen_clock.advance(minutes=14, seconds=50)
    assert client.get("/tasks/").status_code == 200  # 14:50 after the last mark: still open
    frozen_clock.advance(minutes=15, seconds=1)
    assert client.get("/tasks/").status_code in (302, 401)  # idle beyond the timeout: signed out
