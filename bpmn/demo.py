"""Demo data for `make run`: demo users, the plant's tags and the library's demo processes.

`seed(settings)` is what `gmp demo seed` runs (the command lives in web.demo_cli, which also
records the demo users' interface language, a web preference).

Demo users are created through the real services: an administrator creates each
account, the owner enrols with password and TOTP, the administrator records the
identity verification. Every step is in the audit trail like any other. Seeding is
idempotent: an existing demo database is left as it is.

Victor (the demo's second person) signs the accountability statement too. Beside the users,
the seed puts the demo plant's master data in force with its records
(bpmn/demo_masterdata.py: materials, lots, equipment, instruments, documents, recipes,
qualifications), and the plant's equipment tags (`connectors/plant_tags.yaml`,
imported by Quinn QA and approved by Rita Reviewer with a signature) and the demo processes
in `bpmn/demo_processes/` (uploaded by Quinn, approved by Rita) into effect, and starts one
instance of each, so that operators find work in their inbox.

The demo history is recorded as if it happened in the minutes before the seed ran: the
seed runs on a controlled clock that starts 60 minutes in the past and moves 31 seconds
per signing ceremony, so that every TOTP code it uses lies in the past and the demo users'
current codes stay unused for their first sign-in. Production data never does this.

The demo password and TOTP secrets are written to `instance/demo-users.txt`;
`gmp demo totp USER` prints a user's current TOTP code (demo databases only).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork

DEMO_PASSWORD = "gmp-demo-password"
DEMO_PROCESSES = Path(__file__).resolve().parent / "demo_processes"
PLANT_TAGS = Path(__file__).resolve().parent.parent / "connectors" / "plant_tags.yaml"
CEREMONY_STEP = timedelta(seconds=31)


@dataclass(frozen=True)
class DemoUser:
    user_id: str
    printed_name: str
    roles: tuple[str, ...]
    language: str = "en"


DEMO_USERS = (
    DemoUser("alice", "Alice Operator", ("operator",)),
    DemoUser("victor", "Victor Verifier", ("operator", "verifier")),
    DemoUser("sam", "Sam Supervisor", ("supervisor", "planner")),
    DemoUser("quinn", "Quinn QA", ("qa",)),
    DemoUser("rita", "Rita Reviewer", ("qa", "reviewer")),
    DemoUser("peter", "Peter Qualified-Person", ("qp",)),
    DemoUser("audrey", "Audrey Auditor", ("auditor",)),
    DemoUser("lin", "林晓 Lin Xiao", ("operator",), "zh"),
    DemoUser("vera", "Vera Validation", ("validation",)),
    DemoUser("wang", "王伟 Wang Wei", ("validation",), "zh"),
    DemoUser("tess", "Tess Trainer", ("trainer",)),
    DemoUser("tina", "Tina Training-Coordinator", ("training_coordinator",)),
    DemoUser("rose", "Rose Requester", ("requester",)),
    DemoUser("owen", "Owen Area-Owner", ("area_owner",)),
    DemoUser("ella", "Ella EHS", ("ehs_officer",)),
    DemoUser("ivan", "Ivan Isolation", ("isolation_authority",)),
    DemoUser("dora", "Dora Document-Control", ("document_control", "requester")),
    DemoUser("tom", "Tom Technician", ("technician",)),
    DemoUser("mike", "Mike Metrology", ("metrology",)),
    DemoUser("paula", "Paula Purchasing", ("purchasing", "requester")),
    DemoUser("sue", "Sue Supplier-Auditor", ("supplier_auditor",)),
    DemoUser("cora", "Cora QC", ("qc",)),
    DemoUser("iris", "Iris Investigator", ("investigator",)),
)
DEMO_ADMIN = DemoUser("admin", "Ada Admin", ("admin",))


def _enrol(db: Database, settings: Settings, user_id: str, secret: str) -> str:
    from signatures import totp
    from signatures.enrolment import enrol, start_enrolment

    with db.session() as session:
        view = start_enrolment(session, user_id, secret)
    # the previous TOTP step (inside the drift window): the owner's first login can use the current code
    code = totp.code_at_step(view.totp_secret, totp.current_step(view.totp_secret, clock.now()) - 1)
    with UnitOfWork(db) as uow:
        enrol(uow, user_id, secret, DEMO_PASSWORD, code, settings)
        uow.commit()
    return view.totp_secret


def seed(settings: Settings, *, set_language: Callable[[Database, DemoUser], None] | None = None,
         runtime: Any = None) -> list[tuple[str, str, str, str]]:
    """Create the demo users; return (user, name, roles, TOTP secret) rows. Idempotent.

    `set_language(db, user)` records a demo user's interface language (the web layer's);
    the demo processes are checked and run with `runtime` (default: the library's own,
    bpmn.glue.install)."""
    from bpmn.glue import install
    from signatures.identities import bootstrap_admin, create_user, list_users, verify_identity

    db = Database(settings.database_url)
    runtime = runtime or install(db, settings)
    real_clock = clock.get_clock()
    demo_clock = clock.FrozenClock(clock.now() - timedelta(minutes=60))
    clock.set_clock(demo_clock)
    try:
        with db.session() as session:
            if list_users(session):
                return []
        with UnitOfWork(db) as uow:
            _, secret = bootstrap_admin(uow, DEMO_ADMIN.user_id, DEMO_ADMIN.printed_name, settings)
            uow.commit()
        rows = [(DEMO_ADMIN.user_id, DEMO_ADMIN.printed_name, "admin",
                 _enrol(db, settings, DEMO_ADMIN.user_id, secret))]
        from audit.canonical import Actor

        admin_actor = Actor(DEMO_ADMIN.user_id, DEMO_ADMIN.printed_name)
        for user in DEMO_USERS:
            with UnitOfWork(db, admin_actor) as uow:
                _, secret = create_user(uow, user.user_id, user.printed_name, list(user.roles), settings)
                uow.commit()
            rows.append((user.user_id, user.printed_name, ",".join(user.roles),
                         _enrol(db, settings, user.user_id, secret)))
            with UnitOfWork(db, admin_actor) as uow:
                verify_identity(uow, user.user_id, "demo account: identity document checked in person",
                                "demo data")
                uow.commit()
            if user.language != "en" and set_language is not None:
                set_language(db, user)
            demo_clock.advance(seconds=1)
        secrets = {row[0]: row[3] for row in rows}
        from bpmn import demo_masterdata

        demo_masterdata.seed(db, settings, lambda user_id: _credentials(db, user_id, secrets[user_id], demo_clock))
        _seed_library(db, settings, secrets, demo_clock, runtime)
        _seed_processes(db, settings, lambda user_id: _credentials(db, user_id, secrets[user_id], demo_clock), runtime)
        if demo_clock() > real_clock() - timedelta(minutes=1):
            raise RuntimeError("demo seed ran out of past time: too many ceremonies for the 60-minute window")
        return rows
    finally:
        clock.set_clock(real_clock)
        db.dispose()


def _seed_processes(db: Database, settings: Settings, credentials: Callable[[str], Any], runtime: Any) -> None:
    """Each process package's demo (one line per process)."""
    from bpmn.batch_record import demo as batch_record_demo
    from bpmn.calibration import demo as calibration_demo
    from bpmn.deviation_capa import demo as deviation_demo
    from bpmn.supplier_evaluation import demo as supplier_demo
    from bpmn.work_permit import demo as work_permit_demo

    calibration_demo.seed(db, settings, credentials, runtime)
    batch_record_demo.seed(db, settings, credentials, runtime)
    supplier_demo.seed(db, settings, credentials, runtime)
    work_permit_demo.seed(db, settings, credentials, runtime)
    deviation_demo.seed(db, settings, credentials, runtime)


def _credentials(db: Database, user_id: str, secret: str, demo_clock: clock.FrozenClock):  # type: ignore[no-untyped-def]
    """All components for one ceremony, the password checked now (signatures.precheck: call this before
    the unit of work that signs); the clock moves on so the next code is unused."""
    from signatures import totp
    from signatures.credentials import Credentials
    from signatures.precheck import precheck_signing

    demo_clock.advance(seconds=CEREMONY_STEP.total_seconds())
    return precheck_signing(db, Credentials(user_id, DEMO_PASSWORD,
                                            totp.code_at_step(secret, totp.current_step(secret, clock.now()))))


def _seed_library(db: Database, settings: Settings, secrets: dict[str, str], demo_clock: clock.FrozenClock,
                  runtime: Any) -> None:
    """Tags and processes in effect, approved by a second QA user, one instance of each started."""
    from audit.canonical import Actor
    from bpmn import demo_masterdata
    from connectors.registry import approve_revision, import_revision
    from engine import definitions, instances
    from engine.models import ProcessDefinition
    from engine.ports import SignatureInput

    quinn, rita, sam = Actor("quinn", "Quinn QA"), Actor("rita", "Rita Reviewer"), Actor("sam", "Sam Supervisor")
    # Rita and the others signed the accountability statement with the master data
    # (bpmn.demo_masterdata.seed); Victor, the demo's second person, signs it here, ready to verify.
    from signatures.accountability import sign_statement

    victor = Actor("victor", "Victor Verifier")
    creds = _credentials(db, victor.user_id, secrets[victor.user_id], demo_clock)
    with UnitOfWork(db, victor) as uow:
        sign_statement(uow, creds, settings)
        uow.commit()
    with UnitOfWork(db, quinn) as uow:
        revision = import_revision(uow, PLANT_TAGS.read_bytes(), PLANT_TAGS.name,
                                   reason="demo plant: tags of the simulated equipment",
                                   endpoint_overrides={
                                       "plant-modbus": f"modbus://{settings.modbus_host}:{settings.modbus_port}",
                                       "plant-opcua": f"opc.tcp://127.0.0.1:{settings.opcua_port}/gmp/plant"})
        uow.commit()
        number = revision.number
    creds = _credentials(db, "rita", secrets["rita"], demo_clock)
    with UnitOfWork(db, rita) as uow:
        approve_revision(uow, number, credentials=creds, settings=settings,
                         reason="demo plant tags reviewed against the equipment list")
        uow.commit()
    for folder in sorted(p for p in DEMO_PROCESSES.iterdir() if p.is_dir()):
        files = {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
                 if path.is_file()}
        with UnitOfWork(db, quinn) as uow:
            version = definitions.upload(uow, files, reason=f"demo process {folder.name}", runtime=runtime)
            key = uow.session.get(ProcessDefinition, version.definition_id).key
            uow.commit()
            version_id = version.id
        creds = _credentials(db, "rita", secrets["rita"], demo_clock)
        with UnitOfWork(db, rita) as uow:
            definitions.approve(uow, version_id, SignatureInput.of("approved", creds), settings=settings,
                                reason="demo process reviewed", runtime=runtime)
            uow.commit()
        with UnitOfWork(db, sam) as uow:
            instances.start(uow, key, title=f"Demo {folder.name.replace('_', ' ')}", settings=settings,
                            runtime=runtime, data=demo_masterdata.START_DATA.get(folder.name))
            uow.commit()
    from bpmn.training import demo as training_demo

    training_demo.seed(db, settings, lambda user_id: _credentials(db, user_id, secrets[user_id], demo_clock), runtime)
    from bpmn.document_lifecycle import demo as documents_demo

    documents_demo.seed(db, settings, lambda user_id: _credentials(db, user_id, secrets[user_id], demo_clock), runtime)
