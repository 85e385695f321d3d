"""PQ scenario "demo": batches of the demo line-clearance process under load.

One batch: a supervisor starts the line-clearance instance; the operator reads the dryer's
inlet temperature from the simulated plant (stored as original equipment data) and records
the clearance, signed (performed) and verified by a second operator (verified, all
components); then in parallel the supervisor reviews the documents (reviewed) and the
verifier checks the equipment; QA approves (approved). Every fifth batch finds the line not
clear: QA records the deviation (reviewed) instead. Signers work in continuous sessions
(password only after their login) as they would at a terminal; the verifier signs with
every component. The users, the approved definition and the approved plant tags are set up
first and not measured; their history is dated in the minutes before the run so that every
TOTP code the run uses is fresh.
"""
from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from audit.canonical import Actor
from bpmn.pq_crew import PqCrew
from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork
from validation_pack.pq import BatchResult, Load

PROCESS = Path(__file__).resolve().parent / "demo_processes" / "line_clearance"
PLANT_TAGS = Path(__file__).resolve().parent.parent / "connectors" / "plant_tags.yaml"
TAG = "FBD-01.inlet_temp"
PASSWORD = "pq load password 0123"


class DemoScenario(PqCrew):
    name = "demo"
    description = ("demo line clearance per batch: start, equipment read, clearance performed and verified, "
                   "parallel document review and equipment check, QA approval; every fifth batch a deviation")
    full_load = Load(batches=20, concurrency=4)
    quick_load = Load(batches=2, concurrency=2)
    acceptance = "every batch completes without error and the audit trail verifies at the end"
    needs_opcua = False  # the batch reads a Modbus tag

    def __init__(self) -> None:
        super().__init__()
        self.key = "line_clearance"

    # ---- setup (not measured)
    def setup(self, db: Database, settings: Settings, load: Load) -> None:
        from connectors.registry import approve_revision, import_revision
        from engine import definitions
        from engine.ports import SignatureInput, default_services
        from signatures import testing

        real = clock.get_clock()
        past = clock.FrozenClock(clock.now() - timedelta(minutes=30))
        clock.set_clock(past)
        try:
            admin = testing.bootstrap_admin(db, settings, "pq-admin", "PQ Administrator", PASSWORD)
            people = {"author": ("PQ QA Author", ["qa"]), "approver": ("PQ QA Approver", ["qa"])}
            for w in range(load.concurrency):
                people[f"op{w}"] = (f"PQ Operator {w}", ["operator"])
                people[f"sup{w}"] = (f"PQ Supervisor {w}", ["supervisor", "planner"])
                people[f"qa{w}"] = (f"PQ QA {w}", ["qa"])
            for i in range(load.batches):
                people[f"ver{i}"] = (f"PQ Verifier {i}", ["operator"])
            for key, (name, roles) in people.items():
                self.people[key] = testing.enrolled_user(db, settings, admin, f"pq-{key}", name, roles, PASSWORD)
                past.advance(seconds=1)
            author, approver = self.people["author"], self.people["approver"]
            with UnitOfWork(db, author.actor) as uow:
                number = import_revision(uow, PLANT_TAGS.read_bytes(), PLANT_TAGS.name, reason="PQ: plant tags",
                                         endpoint_overrides={
                                             "plant-modbus": f"modbus://127.0.0.1:{settings.modbus_port}",
                                             "plant-opcua": f"opc.tcp://127.0.0.1:{settings.opcua_port}/gmp/plant"}).number
                uow.commit()
            past.advance(seconds=31)
            creds = testing.credentials(db, approver)  # prechecked: before the write transaction
            with UnitOfWork(db, approver.actor) as uow:
                approve_revision(uow, number, credentials=creds, settings=settings, reason="PQ: tags reviewed")
                uow.commit()
            files = {str(p.relative_to(PROCESS)): p.read_bytes() for p in sorted(PROCESS.rglob("*")) if p.is_file()}
            services = default_services(settings)
            with UnitOfWork(db, author.actor) as uow:
                version_id = definitions.upload(uow, files, reason="PQ: demo line clearance", services=services).id
                uow.commit()
            past.advance(seconds=31)
            creds = testing.credentials(db, approver)
            with UnitOfWork(db, approver.actor) as uow:
                definitions.approve(uow, version_id, SignatureInput.of("approved", creds), services=services, reason="PQ")
                uow.commit()
        finally:
            clock.set_clock(real)

    # ---- one batch (measured)
    def run_batch(self, db: Database, settings: Settings, index: int, worker: int) -> BatchResult:
        from connectors.service import client_for, read_tag
        from engine import instances, tasks
        from engine.ports import SignatureInput, default_services
        from signatures.precheck import signing_credentials

        result = BatchResult(f"B{index + 1:03d}")
        op, sup, qa = (self.people[f"{role}{worker}"] for role in ("op", "sup", "qa"))
        ver = self.people[f"ver{index}"]

        def step(person: Any, fn: Any) -> Any:
            started = time.perf_counter()
            with UnitOfWork(db, person.actor) as uow:
                value = fn(uow)
                uow.commit()
            result.step_ms.append((time.perf_counter() - started) * 1000)
            result.steps += 1
            return value

        def ready(iid: int) -> dict[str, str]:
            with db.session() as session:
                return {t["bpmn_id"]: t["id"] for t in instances.inspect(session, iid)["tasks"]
                        if t["state"] == "ready" and t["manual"]}

        def complete(person: Any, bpmn_id: str, data: dict[str, Any], meanings: list[str], extra: list[Any] = ()) -> None:
            auth = self.sign_in(db, settings, person.user_id) if meanings else None
            services = default_services(settings, auth_session=auth)
            # the first signing in a session needs every component (the next TOTP code), later ones the password
            first = bool(meanings) and person.user_id not in self.signed
            creds = signing_credentials(db, person.user_id, person.password, self.code(person) if first else None)
            sigs = [SignatureInput.of(m, creds) for m in meanings] + list(extra)
            task_id = ready(iid)[bpmn_id]
            step(person, lambda uow: tasks.complete_task(uow, task_id, data, sigs, services=services, settings=settings))
            result.signatures += len(sigs)
            if meanings:
                self.signed.add(person.user_id)

        for person in (op, sup, qa):
            self.sign_in(db, settings, person.user_id)
        iid = step(sup, lambda uow: instances.start(uow, self.key, title=f"PQ batch {result.batch}",
                                                    settings=settings).id)
        reading = step(op, lambda uow: read_tag(uow, TAG, client=client_for(settings), purpose="pq",
                                                instance_id=str(iid)))
        result.equipment_reads += 1
        clear = index % 5 != 4
        verifier = SignatureInput.of("verified", signing_credentials(db, ver.user_id, ver.password, self.code(ver)))
        complete(op, "record_clearance", {"room": f"G-{101 + worker}", "previous_product_removed": True,
                                          "line_clear": clear}, ["performed"], [verifier])
        if clear:
            complete(sup, "review_documents", {"documents_complete": True}, ["reviewed"])
            complete(ver, "check_equipment", {"equipment_id": "FBD-01", "status": "released for use"}, [])
            complete(qa, "qa_approval", {"decision": "released", "comment": f"inlet {reading.value:.1f} degC"},
                     ["approved"])
            result.path = "cleared, reviewed, approved"
        else:
            complete(qa, "record_deviation", {"description": "previous product residue found on the line"},
                     ["reviewed"])
            result.path = "not clear: deviation recorded"
        with db.session() as session:
            status = instances.inspect(session, iid)["status"]
        result.ok = status == "completed"
        if not result.ok:
            result.error = f"instance {iid} ended {status}"
        return result


def install() -> None:
    """Register the scenario with the PQ runner."""
    from validation_pack.pq import register_scenario

    register_scenario(DemoScenario.name, DemoScenario)


__all__ = ["DemoScenario", "install", "Actor"]
