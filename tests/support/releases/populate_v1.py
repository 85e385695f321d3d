"""Fill a database with records through the services of a released version (run by
tests/support/upgrade.py with that version's code first on sys.path, in its own process).

    python populate_v1.py URL INSTANCE_PATH SECRET_KEY PASSPHRASE   -> last line: JSON manifest

Written against the API of the code released at revision 0006_web and frozen with it: a
later release whose API differs gets its own populate_vN.py (tests/support/upgrade.py maps
each released revision to its commit and script). Everything goes through the product's
services and units of work, as users would have done it: accounts and enrolment,
accountability statements, a refused sign-in, tag registry revisions approved by signature,
process definitions uploaded and approved by signature (one superseded), instances with
completed, signed and second-person-verified tasks, a running instance, a cancelled one, a
deviation raised by an operator (a link and an exception), a message that started a process,
a waiting timer, a notification, a language preference, an audit review, a signed audit
checkpoint (in the database and the instance's checkpoint log) and, in releases that have the
API (0007_api on), a system account with tokens. Releases with the engine runtime object
(0008_md_changes on) get the product's runtime (`bpmn.glue.install`) made current first, as
their web application and commands do; nothing else in the services' API used here changed.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

TREE = Path(__file__).resolve().parent  # the released code's checkout (this file is copied into it)


def main(url: str, instance_path: str, secret_key: str, passphrase: str, extra=None) -> dict:
    """`extra(db, settings, admin, people, fresh, manifest)`, when given, adds a later release's records
    (populate_v2.py on) before the audit review and the checkpoint."""
    from audit.canonical import Actor
    from core import clock
    from core.config import load_settings
    from store.db import Database
    from store.migrate import current, upgrade
    from store.uow import UnitOfWork

    upgrade(url)  # the released chain, up to its head
    revision = current(url)
    settings = load_settings({"instance_path": instance_path, "database_url": url, "secret_key": secret_key,
                              "server_key_passphrase": passphrase}, environ={})
    frozen = clock.FrozenClock(datetime(2026, 1, 1, 8, 0, tzinfo=timezone.utc))  # days before the tests' frozen clock
    clock.set_clock(frozen)
    db = Database(url)
    manifest: dict = {"revision": revision, "instances": {}}
    if (TREE / "engine" / "runtime.py").exists():  # releases from 0008_md_changes on
        from bpmn.glue import install
        from engine.runtime import activate

        activate(install(db, settings))
    try:
        from signatures import kdf, testing

        with kdf.unsafe_fast_kdf():
            admin = testing.bootstrap_admin(db, settings)
            people = {name: testing.enrolled_user(db, settings, admin, name, full, [role])
                      for name, full, role in [("alice", "Alice Operator", "operator"),
                                               ("bob", "Bob Verifier", "operator"),
                                               ("sam", "Sam Supervisor", "supervisor"),
                                               ("quinn", "Quinn QA", "qa"), ("quentin", "Quentin QA", "qa"),
                                               ("audrey", "Audrey Auditor", "auditor"),
                                               ("lin", "林晓 Lin Xiao", "operator")]}
            xena = testing.enrolled_user(db, settings, admin, "xena", "Xena Locked", ["operator"])
            manifest["users"] = sorted(["admin", "xena", *people])
            manifest["people"] = {p.user_id: {"printed_name": p.printed_name, "password": p.password,
                                              "totp_secret": p.totp_secret} for p in (admin, xena, *people.values())}
            _refused_sign_in(db, settings, people["alice"])
            _accounts(db, settings, admin, people, xena)

            def fresh(name: str):  # the next ceremony gets an unused TOTP step
                frozen.advance(seconds=31)
                return testing.credentials(db, people[name])

            _tags(db, settings, people, fresh)
            _definitions(db, settings, people, fresh)
            manifest["instances"] = _instances(db, settings, people, fresh)
            _web(db, people)
            if (TREE / "web" / "api" / "accounts.py").exists():  # releases from 0007_api on
                _api(db, admin)
            if extra is not None:
                extra(db, settings, admin, people, fresh, manifest)
            with UnitOfWork(db, people["audrey"].actor) as uow:
                from audit.review import record_review

                record_review(uow, 1, 20, people["audrey"].actor, "first entries reviewed: set-up of the site")
                uow.commit()
        from audit.checkpoints import create_checkpoint

        checkpoint = create_checkpoint(db, settings)
        manifest["checkpoint_seq"] = checkpoint.seq
        with UnitOfWork(db, Actor("alice", "Alice Operator")) as uow:  # entries after the checkpoint
            uow.audit("user.login", "user", "alice", details={"client": "upgrade-fixture"})
            uow.commit()
        with db.session() as session:
            from audit.models import AuditHead

            manifest["audit_head"] = session.query(AuditHead).one().seq
    finally:
        db.dispose()
        clock.set_clock(None)
    return manifest


def _refused_sign_in(db, settings, person) -> None:
    from signatures.credentials import authenticate
    from signatures.errors import SignatureError
    from store.uow import UnitOfWork

    with UnitOfWork(db) as uow:
        try:
            authenticate(uow, person.user_id, "not the password", "000000", settings, action="user.login_refused",
                         details={"client": "upgrade-fixture"})
        except SignatureError:
            pass


def _accounts(db, settings, admin, people, xena) -> None:
    """A web session opened and closed, a lockout (security alert) and its unlock, a role granted,
    a periodic access review."""
    from signatures.identities import grant_role, record_access_review, unlock_user
    from signatures.models import UserAccount
    from signatures.sessions import create_session, logout
    from store.uow import UnitOfWork

    with UnitOfWork(db, people["alice"].actor) as uow:
        row = create_session(uow.session, uow.session.get(UserAccount, "alice"), client="upgrade-fixture")
        uow.commit()
    with UnitOfWork(db, people["alice"].actor) as uow:
        logout(uow, uow.session.merge(row))
        uow.commit()
    for _attempt in range(settings.lockout_threshold):
        _refused_sign_in(db, settings, xena)
    with UnitOfWork(db, admin.actor) as uow:
        unlock_user(uow, "xena", "identity confirmed by phone")
        grant_role(uow, "sam", "planner", "plans the weighing campaign")
        record_access_review(uow, "quarterly access review: roles match the job descriptions")
        uow.commit()


def _tags(db, settings, people, fresh) -> None:
    from connectors.registry import approve_revision, import_revision
    from store.uow import UnitOfWork

    plant = (TREE / "connectors" / "plant_tags.yaml").read_bytes()
    second = plant.replace(b"description: dispensing scale net weight\n",
                           b"description: dispensing scale net weight (gross minus tare)\n", 1)
    assert second != plant
    for reason, content in (("plant tags, first issue", plant), ("plant tags, second issue", second)):
        with UnitOfWork(db, people["quinn"].actor) as uow:  # the second changes one tag (0010 on refuses no change)
            number = import_revision(uow, content, "plant_tags.yaml", reason=reason).number
            uow.commit()
        with UnitOfWork(db, people["quentin"].actor) as uow:
            approve_revision(uow, number, credentials=fresh("quentin"), settings=settings, reason="checked")
            uow.commit()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _deploy(db, settings, people, fresh, files: dict[str, bytes], reason: str) -> int:
    from engine import definitions
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    with UnitOfWork(db, people["quinn"].actor) as uow:
        version = definitions.upload(uow, files, reason=reason, services=default_services(settings))
        uow.commit()
    creds = fresh("quentin")
    with UnitOfWork(db, people["quentin"].actor) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "quentin", {
            "password": creds.password, "totp": creds.totp}), services=default_services(settings),
            reason="reviewed against the SOP")
        uow.commit()
    return version.id


def _definitions(db, settings, people, fresh) -> None:
    line_clearance = _files(TREE / "tests" / "engine" / "processes" / "line_clearance")
    _deploy(db, settings, people, fresh, line_clearance, "CC-001 first issue")
    changed = dict(line_clearance)
    changed["line_clearance.bpmn"] = changed["line_clearance.bpmn"].replace(b"<bpmn:definitions",
                                                                            b"<!-- v2 -->\n<bpmn:definitions", 1)
    _deploy(db, settings, people, fresh, changed, "CC-002 second issue")  # v1 superseded
    scheduled = TREE / "tests" / "engine_runtime" / "processes" / "scheduled"
    for name in ("deviation_simple.bpmn", "dispense_check.bpmn", "weigh_deadline.bpmn"):
        _deploy(db, settings, people, fresh, {name: (scheduled / name).read_bytes()}, f"runtime sample {name}")
    sys.path.insert(0, str(TREE))
    from tests.engine_runtime.test_integration_immediate import HALT_LINE, HALT_REPORT

    _deploy(db, settings, people, fresh, {"halt_report.bpmn": HALT_REPORT}, "halt report")
    _deploy(db, settings, people, fresh, {"halt_line.bpmn": HALT_LINE}, "halt line")


def _instances(db, settings, people, fresh) -> dict:
    from engine import instances, tasks
    from engine.ports import SignatureInput, default_services
    from store.uow import UnitOfWork

    def start(user, key, **kwargs) -> int:
        with UnitOfWork(db, people[user].actor) as uow:
            instance = instances.start(uow, key, settings=settings, **kwargs)
            uow.commit()
            return instance.id

    def ready(instance_id) -> dict[str, str]:
        with db.session() as session:
            view = instances.inspect(session, instance_id)
        return {t["bpmn_id"]: t["id"] for t in view["tasks"] if t["state"] == "ready" and t["manual"]}

    def complete(user, instance_id, bpmn_id, data, meanings=(), verifier=None) -> None:
        signatures = []
        for meaning in meanings:
            creds = fresh(user)
            signatures.append(SignatureInput(meaning, user, {"password": creds.password, "totp": creds.totp}))
        if verifier is not None:
            creds = fresh(verifier[0])
            signatures.append(SignatureInput(verifier[1], verifier[0], {"password": creds.password,
                                                                        "totp": creds.totp}))
        with UnitOfWork(db, people[user].actor) as uow:
            tasks.complete_task(uow, ready(instance_id)[bpmn_id], data, signatures,
                                services=default_services(settings), settings=settings)
            uow.commit()

    released = start("sam", "line_clearance", title="Batch B-001 line clearance")
    complete("alice", released, "record_clearance", {"room": "G-101", "previous_product_removed": True,
                                                     "line_clear": True}, ["performed"], ("bob", "verified"))
    complete("sam", released, "review_documents", {"documents_complete": True}, ["reviewed"])
    complete("bob", released, "check_equipment", {"equipment_id": "GRAN-01", "status": "clean"})
    complete("quinn", released, "qa_approval", {"decision": "released"}, ["approved"])

    running = start("sam", "line_clearance", title="Batch B-002 line clearance")
    complete("alice", running, "record_clearance", {"room": "G-102", "previous_product_removed": True,
                                                    "line_clear": True}, ["performed"], ("bob", "verified"))
    cancelled = start("sam", "line_clearance", title="Batch B-003 line clearance")
    with UnitOfWork(db, people["sam"].actor) as uow:
        instances.cancel(uow, cancelled, "batch B-003 withdrawn by planning")
        uow.commit()
    batch = start("alice", "dispense_check", data={"batch_number": "B-7", "weight": 11.2})
    halting = start("alice", "halt_line", data={"line": "L-2"})
    complete("alice", halting, "stop", {})
    timed = start("alice", "weigh_deadline", title="Weighing with a deadline")
    return {"released": released, "running": running, "cancelled": cancelled, "batch_with_deviation": batch,
            "halted_line": halting, "timed": timed}


def _api(db, admin) -> None:
    """A system account with a system role, one token issued and one revoked."""
    from datetime import timedelta

    from core import clock
    from signatures.roles import add_role
    from store.uow import UnitOfWork
    from web.api.accounts import create_account, issue_token, revoke_token

    with UnitOfWork(db, admin.actor) as uow:
        add_role(uow, "mes", "system", "MES interface", "MES 接口", "lanes worked by the MES", reason="line 1 MES")
        create_account(uow, "mes-line-1", "MES line 1", roles=["mes"], reason="line 1 MES connection")
        issue_token(uow, "mes-line-1", "instances:start instances:read", clock.now() + timedelta(days=90),
                    label="production", reason="go-live")
        first, _secret = issue_token(uow, "mes-line-1", "tasks:read", clock.now() + timedelta(days=30),
                                     label="trial", reason="trial connection")
        revoke_token(uow, first.token_id, "trial over")
        uow.commit()


def _web(db, people) -> None:
    from core import clock
    from store.uow import UnitOfWork
    from web.models import UserPreference
    from web.notify_core import notify

    with UnitOfWork(db, people["lin"].actor) as uow:
        uow.session.add(UserPreference(user_id="lin", language="zh", updated_at=clock.isoformat(clock.now())))
        uow.audit("user.language_set", "user", "lin", changes=[["language", None, "zh"]])
        notify(uow, "lin", "task_assigned", "称量", "Batch B-002 line clearance", "/tasks/")
        uow.commit()


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5]), sort_keys=True))
