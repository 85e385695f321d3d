"""PQ scenario "batch_record": the batch record from order to QP release, against the simulated plant.

One batch, as people run it at the plant (through the service layer, every step signed as the
task asks): the supervisor orders it from the effective master recipe RCP-PARA-500 and signs
the order; an operator clears the line and a second person verifies it; the operator dispenses
every line of the bill of materials (the simulated scale carries no load, so each net weight is
entered by hand with its reason and the verifier's signature: the manual path of the record);
the operator signs the granulation and drying set-points, which the scheduler writes to the
dryer over OPC UA and confirms by read-back, and the scheduler samples the critical process
parameters; the in-process control and the yield; production review; QA reviews by exception,
assessing every exception and changed entry; the QP decides and releases.

Set up first and not measured: the demo plant's people and master data (bpmn.demo_masterdata:
recipes, lots, equipment, qualifications), the plant tags, a released lactose lot, the dryer's overdue
instrument calibrated, the batch record process approved, one verifier per batch, the
simulated granulator brought to its recipe speed. The set-up is dated in the two hours before
the run, so every TOTP code the run uses is fresh. People sign in once (a continuous session:
the password for each later signature); the verifier of each batch signs with every component.

Production lines: `BatchRecordScenario(lines=N)` gives the plant N lines. Line 1 is the demo
plant's (SCALE-01, GR-01, FBD-01, run by Alice, Sam, Quinn and Peter); line k adds SCALE-0k,
GR-0k and FBD-0k (cleaned and released) and a crew of its own: an operator qualified on the
SOPs Alice holds, a supervisor, a QA reviewer and a QP. Batch i runs on line i mod N, ordered
onto that line's equipment; the batches of one line queue for it. The PQ runs one line; the
benchmark (bench/batch_record.py) gives every batch its own line and runs each batch in its
own operating-system process (`for_process`). A step that meets a lock or serialisation
conflict is tried again (`retried`); one that fails for good is counted (`refused`).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from audit.canonical import Actor
from bpmn.pq_crew import PqCrew
from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork
from validation_pack.pq import BatchResult, Load

RECIPE = "RCP-PARA-500"
GOOD_LACTOSE = ("L-LAC-2612", "MAT-LAC", "SUP-EURO")
LOTS = {"MAT-PARA": "L-PARA-2601", "MAT-LAC": GOOD_LACTOSE[0], "MAT-PVP": "L-PVP-2601", "MAT-MGST": "L-MGST-2601"}
SAMPLING = {"duration_s": 1, "interval_s": 0.5}
GRANULATION_RPM, DRYING_DEGC = 150, 60
PASSWORD = "pq batch password 0123"
PLANT_TAGS = Path(__file__).resolve().parent.parent / "connectors" / "plant_tags.yaml"
# the people the demo plant's master data names (bpmn.demo_masterdata: lots, logbook, qualifications)
PEOPLE = (("alice", "Alice Operator", ("operator",)), ("victor", "Victor Verifier", ("operator", "verifier")),
          ("sam", "Sam Supervisor", ("supervisor", "planner")), ("quinn", "Quinn QA", ("qa",)),
          ("rita", "Rita Reviewer", ("qa", "reviewer")), ("peter", "Peter Qualified-Person", ("qp",)),
          ("lin", "林晓 Lin Xiao", ("operator",)))
EQUIPMENT = ("SCALE-01", "GR-01", "FBD-01")
OVERRIDE = "PQ: weighed on the backup balance (the simulated scale carries no load)"
# a line's equipment: (class, id prefix, name, room); line k (from 0) has <prefix>-0<k+1>
LINE_CLASSES = (("balance", "SCALE", "Floor scale 300 kg", "Dispensary"),
                ("granulator", "GR", "High-shear granulator", "Granulation room"),
                ("fluid_bed_dryer", "FBD", "Fluid bed dryer", "Drying room"))
OPERATOR_SOPS = (("SOP-DSP-001", 2), ("SOP-PRD-012", 4), ("SOP-PRD-014", 1), ("SOP-CLN-004", 3))  # as Alice's
CREW_ROLES = (("op", "Operator", ("operator",)), ("sup", "Supervisor", ("supervisor", "planner")),
              ("qa", "QA Reviewer", ("qa",)), ("qp", "Qualified Person", ("qp",)))


def line_equipment(line: int) -> dict[str, str]:
    """The equipment of production line `line` (from 0), by class."""
    return {name: f"{prefix}-{line + 1:02d}" for name, prefix, _, _ in LINE_CLASSES}


@dataclass(frozen=True)
class Crew:
    """Who runs one batch (keys of the scenario's people) and the line's equipment it is ordered
    onto (empty: the recipe's)."""
    operator: str
    supervisor: str
    qa: str
    qp: str
    verifier: str
    line: int = 0
    equipment: dict[str, str] = field(default_factory=dict)


class BatchRecordScenario(PqCrew):
    name = "batch_record"
    description = ("the batch record per batch: order, line clearance verified, dispensing of the bill of materials "
                   "(manual entries verified), signed set-points written over OPC UA with read-back, sampled "
                   "critical parameters, in-process control, yield, production review, QA review by exception, "
                   "QP release")
    full_load = Load(batches=20, concurrency=4)
    quick_load = Load(batches=2, concurrency=2)
    acceptance = "every batch ends released, without error, and the audit trail verifies at the end"
    needs_opcua = True  # the set-points are written over OPC UA

    def __init__(self, lines: int = 1, sampling: Mapping[str, float] | None = None) -> None:
        if lines < 1:
            raise ValueError("a plant has at least one production line")
        super().__init__()
        self.lines = lines
        self.sampling = dict(sampling or SAMPLING)
        self.instance_ids: dict[str, int] = {}  # batch number -> instance id
        # a crew waits for its line from dispensing to drying (and cleaning)
        self.line_locks = [threading.Lock() for _ in range(lines)]

    @classmethod
    def for_process(cls, people: Mapping[str, Any], lines: int,
                    sampling: Mapping[str, float] | None = None) -> "BatchRecordScenario":
        """The scenario in another process, on a database its set-up prepared: the people (picklable)
        are the set-up's; sessions and first signings start afresh."""
        scenario = cls(lines, sampling)
        scenario.people = dict(people)
        return scenario

    def crew(self, index: int) -> Crew:
        """The crew and line of batch `index` (line index mod lines)."""
        line = index % self.lines
        names = ("alice", "sam", "quinn", "peter") if line == 0 else tuple(
            f"{prefix}{line}" for prefix, _, _ in CREW_ROLES)
        return Crew(*names, verifier=f"ver{index}", line=line,
                    equipment=line_equipment(line) if self.lines > 1 else {})

    # ---- setup (not measured)
    def setup(self, db: Database, settings: Settings, load: Load) -> None:
        from bpmn import batch_record, demo_masterdata
        from connectors.registry import approve_revision, import_revision
        from engine import definitions
        from engine.ports import SignatureInput
        from masterdata import calibration, lots
        from signatures import testing, totp
        from signatures.accountability import sign_statement
        from signatures.models import UserAccount
        from signatures.precheck import signing_credentials

        real = clock.get_clock()
        past = clock.FrozenClock(clock.now() - timedelta(minutes=120 + 10 * self.lines))
        clock.set_clock(past)
        try:
            admin = testing.bootstrap_admin(db, settings, "pq-admin", "PQ Administrator", PASSWORD)
            for user, name, roles in PEOPLE:
                self.people[user] = testing.enrolled_user(db, settings, admin, user, name, list(roles), PASSWORD)
                past.advance(seconds=1)

            def creds(user: str) -> Any:
                """All components of one ceremony: the person's next unused TOTP code (the clock moves
                on by a step when the person has used the current one and the next)."""
                person = self.people[user]
                while True:
                    with db.read_session() as session:
                        last = session.get(UserAccount, person.user_id).totp_last_step or 0
                    now = totp.current_step(person.totp_secret, clock.now())
                    if last <= now:
                        break
                    past.advance(seconds=30)
                return signing_credentials(db, person.user_id, PASSWORD,  # prechecked: call before the unit of work
                                           totp.code_at_step(person.totp_secret, max(last + 1, now)))

            demo_masterdata.seed(db, settings, creds)  # the demo plant: recipes, lots, equipment, qualifications
            with UnitOfWork(db, self.people["quinn"].actor) as uow:
                number = import_revision(uow, PLANT_TAGS.read_bytes(), PLANT_TAGS.name, reason="PQ: plant tags",
                                         endpoint_overrides={
                                             "plant-modbus": f"modbus://127.0.0.1:{settings.modbus_port}",
                                             "plant-opcua": f"opc.tcp://127.0.0.1:{settings.opcua_port}/gmp/plant"}).number
                uow.commit()
            c = creds("rita")
            with UnitOfWork(db, self.people["rita"].actor) as uow:
                approve_revision(uow, number, credentials=c, settings=settings, reason="PQ: tags reviewed")
                uow.commit()
            today = clock.now().date()
            c = creds("quinn")  # read before the unit of work (SQLite: one writer)
            with UnitOfWork(db, self.people["quinn"].actor) as uow:
                lot, material, supplier = GOOD_LACTOSE
                lots.receive_lot(uow, lot=lot, material=material, supplier=supplier, quantity=4000, unit="kg",
                                 expiry=today.replace(year=today.year + 2).isoformat(), note="PQ goods receipt",
                                 credentials=c, settings=settings)
                uow.commit()
            c = creds("rita")
            with UnitOfWork(db, self.people["rita"].actor) as uow:
                lots.change_lot_status(uow, GOOD_LACTOSE[0], "released", reason="PQ: COA reviewed",
                                       credentials=c, settings=settings)
                uow.commit()
            c = creds("quinn")
            with UnitOfWork(db, self.people["quinn"].actor) as uow:
                calibration.record_calibration(uow, "PT-102", calibrated_on=today.isoformat(), result="pass",
                                               certificate="CAL-PT-102-PQ", note="calibrated before the PQ",
                                               credentials=c, settings=settings)
                uow.commit()
            with UnitOfWork(db, self.people["quinn"].actor) as uow:
                version_id = definitions.upload(uow, batch_record.diagram_files(), reason="PQ: batch record").id
                uow.commit()
            c = creds("rita")
            with UnitOfWork(db, self.people["rita"].actor) as uow:
                definitions.approve(uow, version_id, SignatureInput.of("approved", c), settings=settings, reason="PQ")
                uow.commit()
            if self.lines > 1:
                self._add_lines(db, settings, admin, creds)
            for index in range(load.batches):
                person = testing.enrolled_user(db, settings, admin, f"pq-ver{index}", f"PQ Verifier {index}",
                                               ["operator", "verifier"], PASSWORD)
                self.people[f"ver{index}"] = person  # enrolled with the accountability statement signed
            from signatures.accountability import get_statement

            with db.read_session() as session:
                unsigned = get_statement(session, "peter") is None
            if unsigned:  # the QP's first signature is the accountability statement
                c = creds("peter")
                with UnitOfWork(db, self.people["peter"].actor) as uow:
                    sign_statement(uow, c, settings)
                    uow.commit()
            if past() > real() - timedelta(minutes=1):
                raise RuntimeError("PQ set-up ran out of past time: too many ceremonies for its window")
        finally:
            clock.set_clock(real)
        self._granulator_at_recipe_speed(db, settings)

    def _add_lines(self, db: Database, settings: Settings, admin: Any, creds: Any) -> None:
        """Lines 2..N: their equipment in force, cleaned and released; their crews enrolled, the
        operator qualified as Alice is."""
        from bpmn.demo_masterdata import put_in_force
        from masterdata import equipment_log, qualifications
        from signatures import testing

        today = clock.now().date()
        extra = range(1, self.lines)
        for line in extra:
            for prefix, title, roles in CREW_ROLES:
                self.people[f"{prefix}{line}"] = testing.enrolled_user(
                    db, settings, admin, f"pq-{prefix}{line}", f"PQ {title} {line + 1}", list(roles), PASSWORD)
        put_in_force(db, settings, creds, "equipment", {
            line_equipment(line)[name]: {"name": label, "class": name, "location": f"{room} {line + 1}01",
                                         "instruments": [], "clean_hold_hours": 72}
            for line in extra for name, _, label, room in LINE_CLASSES}, purpose="PQ production lines")
        for line in extra:
            for sop, version in OPERATOR_SOPS:
                c = creds("quinn")
                with UnitOfWork(db, self.people["quinn"].actor) as uow:
                    qualifications.grant_qualification(
                        uow, self.people[f"op{line}"].user_id, sop, version, credentials=c, settings=settings,
                        granted_on=(today - timedelta(days=30)).isoformat(),
                        valid_until=(today + timedelta(days=365)).isoformat(),
                        basis="PQ: read and understood, practical assessment passed")
                    uow.commit()
            for code in line_equipment(line).values():
                for key, status, note in ((f"op{line}", equipment_log.CLEAN, "cleaned per SOP-CLN-004"),
                                          (f"sup{line}", equipment_log.RELEASED, "visual inspection passed")):
                    c = creds(key)
                    with UnitOfWork(db, self.people[key].actor) as uow:
                        equipment_log.log_equipment(uow, code, status, note=note, credentials=c, settings=settings)
                        uow.commit()

    def _granulator_at_recipe_speed(self, db: Database, settings: Settings) -> None:
        """The simulated granulator runs at the recipe's impeller speed before the first batch (a plant is
        brought to its operating state before production; the speed follows its set-point with a lag)."""
        from connectors.registry import effective_tags
        from connectors.service import client_for

        client = client_for(settings)
        with db.read_session() as session:
            tags = effective_tags(session)
        set_point, speed = tags["FBD-01.ua.impeller_speed_sp"], tags["FBD-01.ua.impeller_speed"]
        client.write(set_point.definition, GRANULATION_RPM)
        deadline = time.monotonic() + 60
        while abs(float(client.read(speed.definition).value) - GRANULATION_RPM) > 5:
            if time.monotonic() > deadline:
                raise RuntimeError("the simulated granulator did not reach its recipe speed within 60 s")
            time.sleep(0.2)

    def _clean_and_release(self, db: Database, settings: Settings, result: BatchResult, step: Any,
                           crew: Crew) -> None:
        """Every piece of equipment of the line the batch left dirty: cleaned by the operator,
        released by the supervisor (signed logbook entries, in their continuous sessions)."""
        from masterdata.equipment_log import CLEAN, DIRTY, RELEASED, equipment_state, log_equipment
        from signatures.precheck import signing_credentials

        with db.read_session() as session:
            dirty = [code for code in (tuple(crew.equipment.values()) or EQUIPMENT)
                     if equipment_state(session, code).status == DIRTY]
        for code in dirty:
            for key, status, note in ((crew.operator, CLEAN, "cleaned per SOP-CLN-004"),
                                      (crew.supervisor, RELEASED, "visual inspection passed")):
                person = self.people[key]
                user = person.user_id
                auth = self.sign_in(db, settings, user)  # before the first signing's code
                with self.first_signing(user) as first:
                    creds = signing_credentials(db, user, person.password, self.code(person) if first else None)
                    step(person, lambda uow, code=code, status=status, note=note, creds=creds, auth=auth:
                         log_equipment(uow, code, status, note=note, credentials=creds, settings=settings,
                                       auth_session=auth))
                result.signatures += 1

    def _complete(self, db: Database, settings: Settings, iid: int, bpmn_id: str, person: Any,
                  data: Mapping[str, Any], signatures: list[Any], verifier: Any, overrides: Mapping[str, str] | None,
                  result: BatchResult, step: Any, wait_for: Any) -> None:
        from engine import tasks
        from engine.ports import EngineServices, default_services
        from forms import validate_submission

        user = person.user_id
        in_session = bool(signatures) and not user.startswith("pq-ver")
        base = default_services(settings, auth_session=self.sign_in(db, settings, user) if in_session else None)

        def validator(schema: Any, ui: Any, values: Mapping[str, Any]) -> dict[str, Any]:
            checked = validate_submission(schema, ui, values, overrides=dict(overrides or {}), entered_by=user,
                                          verified_by=verifier.user_id if verifier is not None else None)
            record = checked.to_record()
            record.pop("data")
            return {**checked.data, "_form": record}

        services = EngineServices(roles_of=base.roles_of, sign=base.sign, validate_form=validator,
                                  meanings=base.meanings)
        task_id = wait_for(iid, bpmn_id)
        step(person, lambda uow: tasks.complete_task(uow, task_id, dict(data), signatures, services=services,
                                                     settings=settings))
        result.signatures += len(signatures)

    # ---- one batch (measured)
    def run_batch(self, db: Database, settings: Settings, index: int, worker: int, *,
                  batch: str | None = None) -> BatchResult:
        """Batch `index` on its line, by its crew, from order to QP release."""
        crew = self.crew(index)
        return self.drive(db, settings, crew, batch or f"B-PQ-{index + 1:04d}", worker, self.line_locks[crew.line])

    def drive(self, db: Database, settings: Settings, crew: Crew, batch: str, worker: int, line: Any) -> BatchResult:
        from bpmn.batch_record.plan import order
        from bpmn.batch_record.review import review_items
        from bpmn.batch_record.status import batch_status
        from engine import instances
        from engine.ports import SignatureInput
        from engine.scheduler import Scheduler
        from signatures.precheck import signing_credentials

        result = BatchResult(batch)
        ver = self.people[crew.verifier]

        def step(person: Any, fn: Any) -> Any:
            started = time.perf_counter()
            value = self.attempt(db, person, fn)
            result.step_ms.append((time.perf_counter() - started) * 1000)
            result.steps += 1
            return value

        def ready(iid: int) -> dict[str, str]:
            with db.read_session() as session:
                return {t["bpmn_id"]: t["id"] for t in instances.inspect(session, iid)["tasks"]
                        if t["state"] == "ready" and t["manual"]}

        def wait_for(iid: int, bpmn_id: str) -> str:
            """Run the scheduler (set-point writes, sampling) until the task is ready."""
            deadline = time.monotonic() + 120
            while bpmn_id not in ready(iid):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{bpmn_id} did not become ready (ready: {sorted(ready(iid))})")
                started = time.perf_counter()
                report = self.retrying(Scheduler(db, settings, name=f"pq-{worker}").run_once)
                if report.operations:
                    result.step_ms.append((time.perf_counter() - started) * 1000)
                    result.steps += report.operations
                    result.equipment_reads += report.operations
                else:
                    time.sleep(0.05)  # another crew's scheduler holds the job
            return ready(iid)[bpmn_id]

        def complete(person: Any, bpmn_id: str, data: Mapping[str, Any], meanings: tuple[str, ...] = (), *,
                     verifier: Any = None, overrides: Mapping[str, str] | None = None) -> None:
            user = person.user_id
            in_session = not user.startswith("pq-ver")
            if meanings and in_session:
                self.sign_in(db, settings, user)  # signed in (all components) before the first signing's code
            with self.first_signing(user if meanings and in_session else None) as first:
                first = first or (bool(meanings) and not in_session)
                code = self.code(person) if first else None
                signatures = []
                if meanings:
                    creds = signing_credentials(db, user, person.password, code)
                    signatures = [SignatureInput.of(m, creds) for m in meanings]
                if verifier is not None:
                    signatures.append(SignatureInput.of("verified", signing_credentials(
                        db, verifier.user_id, verifier.password, self.code(verifier))))
                self._complete(db, settings, iid, bpmn_id, person, data, signatures, verifier, overrides, result,
                               step, wait_for)

        operator, supervisor, qa, qp = (self.people[key] for key in (crew.operator, crew.supervisor, crew.qa, crew.qp))
        today = clock.now().date().isoformat()
        iid = step(supervisor, lambda uow: order(uow, RECIPE, result.batch, planned_date=today, sampling=self.sampling,
                                                 equipment=crew.equipment or None, settings=settings).id)
        self.instance_ids[batch] = iid
        complete(supervisor, "sign_order", {"planned_date": today}, ("approved",))
        complete(operator, "line_clearance", {"room": f"Dispensary {101 + worker}", "previous_product_removed": True,
                                           "previous_documents_removed": True, "equipment_clean": True,
                                           "area_clean": True}, ("performed",))
        complete(ver, "verify_clearance", {"line_clear": True}, ("verified",))
        bom = task_data(db, wait_for(iid, "dispense"))["bom"]
        rows = [{"material": line["material"], "lot": LOTS[line["material"]], "target": line["target"],
                 "tolerance": line["tolerance"], "net": line["target"]} for line in bom]
        with line:  # the line's equipment serves one batch at a time; cleaned and released after it
            complete(operator, "dispense", {"dispensing": rows}, ("performed",), verifier=ver,
                     overrides={f"dispensing.{i}.net": OVERRIDE for i in range(len(rows))})
            complete(operator, "set_granulation", {"impeller_speed": GRANULATION_RPM}, ("performed",))
            complete(operator, "set_drying", {"inlet_temp": DRYING_DEGC}, ("performed",))
            complete(operator, "ipc", {"ipc_results": {"loss_on_drying": 1.2, "sample_id": f"IPC-{batch}"}},
                     ("performed",))
            self._clean_and_release(db, settings, result, step, crew)
        complete(operator, "yield_entry", {"output_kg": 98.5}, ("performed",))
        complete(supervisor, "production_review", {"record_complete": True, "review_comment": "complete"}, ("reviewed",))
        wait_for(iid, "qa_review")
        with db.read_session() as session:
            references = [item.reference for item in review_items(session, iid)]
        complete(qa, "qa_review", {
            "assessments": [{"exception_ref": ref, "assessment": "PQ: assessed, no impact on quality",
                             "decision": "accepted"} for ref in references],
            "changes_reviewed": True, "qa_comment": "reviewed by exception"}, ("approved",))
        complete(qp, "qp_decision", {"decision": "release", "decision_reason": "PQ: meets its specification"})
        complete(qp, "qp_release", {}, ("released",))
        with db.read_session() as session:
            status = batch_status(session, iid)
        result.ok = status == "released"
        result.path = f"ordered, dispensed ({len(rows)} lines), granulated, dried, reviewed, {status}"
        if not result.ok:
            result.error = f"batch {result.batch} ended {status}"
        return result


def task_data(db: Database, task_id: str) -> dict[str, Any]:
    """The process data as the task sees it (the batch's start data: bill of materials, plan)."""
    from engine.models import InstanceTask
    from engine.spiff.serializer import row_data

    with db.read_session() as session:
        return dict(row_data(session.get(InstanceTask, task_id).body))


def install() -> None:
    """Register the scenario with the PQ runner."""
    from validation_pack.pq import register_scenario

    register_scenario(BatchRecordScenario.name, BatchRecordScenario)


__all__ = ["BatchRecordScenario", "install", "Actor"]
