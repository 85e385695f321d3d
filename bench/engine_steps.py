"""Cost of one task completion: ours (engine/) against stock SpiffWorkflow.

In one warm process, on a migrated SQLite database in a temporary folder:
- ours: `engine.tasks.complete_task` (role, gates, form, signatures, complete, engine
  steps, audit entries, save of the changed rows, commit) on linear processes of 10,
  100 and 1000 user tasks;
- stock: SpiffWorkflow 3.2.0 as documented (find the ready user task, run it,
  do_engine_steps, serialize the whole workflow to JSON) plus the same kind of commit
  (the JSON into one row and one audit entry), at 300 user tasks;
- cold load of a 1000-task instance in a fresh process, ours and stock.

The completions of the five kinds (ours at each size, stock) and a bare commit (the
commit floor, for context: the disk sync both sides pay) take turns, one each per
round, so that every figure is measured under the same machine load. Prints growth_ratio
(ours at 1000 / ours at 10, goal <= 2), speedup_vs_stock (stock / ours at 300, goal >= 10)
and cold_load_ms_1000; the last line is one JSON object.
`--quick` measures fewer completions (under a minute).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audit.canonical import Actor  # noqa: E402
from engine.ports import EngineServices, SignatureRecord, jsonschema_validate  # noqa: E402

OPERATOR = Actor("op", "Bench Operator")
AUTHOR = Actor("author", "Bench Author")
QA = Actor("qa1", "Bench QA")
ROLES = {"op": {"operator"}, "author": {"author"}, "qa1": {"qa"}}


FORM = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property '
        'name="formJsonSchemaFilename" value="step.json"/></spiffworkflow:properties></bpmn:extensionElements>')
STEP_FORM = b'{"type": "object", "properties": {"step": {"type": "integer", "minimum": 0}}, "required": ["step"]}'


def chain_bpmn(n: int, process_id: str) -> bytes:
    refs = "".join(f"<bpmn:flowNodeRef>t{i}</bpmn:flowNodeRef>" for i in range(n))
    parts = ['<?xml version="1.0" encoding="UTF-8"?>'
             '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
             'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" '
             f'targetNamespace="x"><bpmn:process id="{process_id}" isExecutable="true">'
             f'<bpmn:laneSet id="ls"><bpmn:lane id="l" name="operator">{refs}</bpmn:lane></bpmn:laneSet>'
             '<bpmn:startEvent id="s"/>']
    prev = "s"
    for i in range(n):
        parts.append(f'<bpmn:userTask id="t{i}" name="Step {i}">{FORM}</bpmn:userTask>'
                     f'<bpmn:sequenceFlow id="f{i}" sourceRef="{prev}" targetRef="t{i}"/>')
        prev = f"t{i}"
    parts.append(f'<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="fe" sourceRef="{prev}" targetRef="e"/>'
                 '</bpmn:process></bpmn:definitions>')
    return "".join(parts).encode()


def _sign(uow: Any, *, signer_id: str, meaning: str, **_: Any) -> SignatureRecord:
    return SignatureRecord(f"bench-{signer_id}-{meaning}", signer_id, signer_id, meaning)


SERVICES = EngineServices(roles_of=lambda uow, user: ROLES.get(user, set()), sign=_sign,
                          validate_form=jsonschema_validate, meanings=frozenset({"approved"}))


def deploy_and_start(db: Any, n: int) -> tuple[int, str]:
    from engine import definitions, instances, tasks
    from engine.ports import SignatureInput
    from store.uow import UnitOfWork

    key = f"chain{n}"
    with UnitOfWork(db, AUTHOR) as uow:
        version = definitions.upload(uow, {f"{key}.bpmn": chain_bpmn(n, key), "step.json": STEP_FORM}, reason="benchmark",
                                     roles={"operator"}, services=SERVICES)
        uow.commit()
    with UnitOfWork(db, QA) as uow:
        definitions.approve(uow, version.id, SignatureInput("approved", "qa1", {}), services=SERVICES)
        uow.commit()
    with UnitOfWork(db, OPERATOR) as uow:
        iid = instances.start(uow, key).id
        uow.commit()
    with UnitOfWork(db, OPERATOR) as uow:
        first = tasks.inbox(uow, services=SERVICES)
        task_id = [t.id for t in first if t.instance_id == iid][0]
    return iid, task_id


class OursRunner:
    """Completes the tasks of n-task instances one at a time; never the first or the last task of an instance."""

    def __init__(self, db: Any, n: int) -> None:
        self.db, self.n = db, n
        self.iid, self.task_id = deploy_and_start(db, n)
        self.done = 0
        self.samples: list[float] = []

    def _restart(self) -> None:
        from engine import instances, tasks
        from store.uow import UnitOfWork

        with UnitOfWork(self.db, OPERATOR) as uow:
            self.iid = instances.start(uow, f"chain{self.n}").id
            uow.commit()
        with UnitOfWork(self.db, OPERATOR) as uow:
            self.task_id = [t.id for t in tasks.inbox(uow, services=SERVICES) if t.instance_id == self.iid][0]
        self.done = 0

    def step(self, i: int, timed: bool) -> None:
        from engine import tasks
        from store.uow import UnitOfWork

        measure = timed and self.done > 0
        t0 = time.perf_counter()
        with UnitOfWork(self.db, OPERATOR) as uow:
            result = tasks.complete_task(uow, self.task_id, {"step": i}, [], services=SERVICES)
            uow.commit()
        elapsed = time.perf_counter() - t0
        if measure:
            self.samples.append(elapsed)
        self.task_id = result.ready[0]
        self.done += 1
        if self.done >= self.n - 1:  # the next one would end the instance: take a fresh one (not timed)
            self._restart()


def stock_workflow(n: int) -> Any:
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

    from engine.deep import run_deep

    def build() -> Any:
        parser = SpiffBpmnParser(validator=VALIDATOR)
        parser.add_bpmn_str(chain_bpmn(n, "stock"), "stock.bpmn")
        wf = BpmnWorkflow(parser.get_spec("stock"), parser.get_subprocess_specs("stock"))
        wf.do_engine_steps()
        return wf
    return run_deep(build)


class StockRunner:
    """Stock SpiffWorkflow 3.2.0 as documented, with the same kind of commit.

    Per completion: find the ready user task (get_tasks walks the tree), set its data,
    run it, do_engine_steps, serialize the whole workflow to JSON (serialize_json, which
    includes the spec), write the JSON into one row plus one audit entry, commit.
    """

    def __init__(self, db: Any, n: int) -> None:
        from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
        from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

        self.db, self.n = db, n
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.wf = stock_workflow(n)
        self.done = 0
        self.samples: list[float] = []
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_stock_state (id INTEGER PRIMARY KEY, body TEXT)")
            conn.exec_driver_sql("INSERT OR REPLACE INTO bench_stock_state VALUES (1, '')")

    def step(self, i: int, timed: bool) -> None:
        from SpiffWorkflow.util.task import TaskState
        from sqlalchemy import text

        from store.uow import UnitOfWork

        wf = self.wf
        t0 = time.perf_counter()
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(step=i)
        task.run()
        wf.do_engine_steps()
        body = self.serializer.serialize_json(wf)
        with UnitOfWork(self.db, OPERATOR) as uow:
            uow.session.execute(text("UPDATE bench_stock_state SET body = :b WHERE id = 1"), {"b": body})
            uow.audit("task.completed", "task", str(task.id), changes=[["step", None, i]])
            uow.commit()
        elapsed = time.perf_counter() - t0
        if timed and self.done > 0:
            self.samples.append(elapsed)
        self.done += 1
        if self.done >= self.n - 1:
            self.wf, self.done = stock_workflow(self.n), 0


class CommitFloor:
    """The commit alone, for context: one small row updated, one audit entry, commit (the disk sync)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.samples: list[float] = []
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_commit_floor (id INTEGER PRIMARY KEY, n INTEGER)")
            conn.exec_driver_sql("INSERT OR REPLACE INTO bench_commit_floor VALUES (1, 0)")

    def step(self, i: int, timed: bool) -> None:
        from sqlalchemy import text

        from store.uow import UnitOfWork

        t0 = time.perf_counter()
        with UnitOfWork(self.db, OPERATOR) as uow:
            uow.session.execute(text("UPDATE bench_commit_floor SET n = :n WHERE id = 1"), {"n": i})
            uow.audit("bench.commit", "bench", "1", changes=[["n", None, i]])
            uow.commit()
        if timed:
            self.samples.append(time.perf_counter() - t0)


def measure_interleaved(db: Any, measured: int) -> tuple[dict[int, float], float, int, float]:
    """Median seconds per completion, ours at 10/100/300/1000 and stock at 300; the 1000-task instance;
    the median commit floor.

    The machine's load changes from second to second, so the six kinds take turns, one
    completion each per round, after two untimed warm-up rounds: every figure sees the
    same conditions, and the ratios compare like with like.
    """
    ours = {n: OursRunner(db, n) for n in (10, 100, 300, 1000)}
    stock = StockRunner(db, 300)
    floor = CommitFloor(db)
    runners: list[Any] = [*ours.values(), stock, floor]
    for i in range(2 + measured):
        for runner in runners:
            runner.step(i, timed=i >= 2)
    return ({n: statistics.median(r.samples) for n, r in ours.items()}, statistics.median(stock.samples),
            ours[1000].iid, statistics.median(floor.samples))


def engine_only(n: int, measured: int) -> tuple[float, float]:
    """Without any database: (stock, ours) seconds per completion of the engine work alone.

    stock: find the ready user task (tree walk), run it, do_engine_steps, serialize_json;
    ours: the same through GmpWorkflow, serializing only the tasks its change log names.
    """
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    from engine.deep import run_deep
    from engine.persistence import task_body, workflow_state
    from engine.spiff.workflow import GmpWorkflow

    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    stock = stock_workflow(n)

    def build_ours() -> Any:
        wf = GmpWorkflow(stock.spec, stock.subprocess_specs)
        wf.do_engine_steps()
        wf.changelog.reset()
        return wf
    ours = run_deep(build_ours)

    def step_stock(i: int) -> None:
        task = stock.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(step=i)
        task.run()
        stock.do_engine_steps()
        serializer.serialize_json(stock)

    def step_ours(i: int) -> None:
        task = ours.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(step=i)
        task.run()
        ours.do_engine_steps()
        log = ours.changelog
        rows = [json.dumps(task_body(t)) for t in {**log.created, **log.changed}.values()]
        rows += [json.dumps(task_body(t)) for t in ours.active_tasks()]
        json.dumps(workflow_state(ours))
        log.reset()

    def timed(step: Any) -> float:
        samples = []
        for i in range(measured + 2):
            t0 = time.perf_counter()
            run_deep(step, i)
            if i >= 2:
                samples.append(time.perf_counter() - t0)
        return statistics.median(samples)
    return timed(step_stock), timed(step_ours)


# ---------------------------------------------------------------- cold loads (fresh processes)
def cold_ours(url: str, iid: int) -> str:
    from engine import persistence
    from engine.definitions import version_spec
    from engine.models import ProcessDefinitionVersion, ProcessInstance
    from store.db import Database

    t0 = time.perf_counter()
    db = Database(url)
    with db.session() as s:
        inst = s.get(ProcessInstance, iid)
        version = s.get(ProcessDefinitionVersion, inst.version_id)
        spec, subs = version_spec(version)
        t1 = time.perf_counter()
        wf = persistence.load(s, inst, spec, subs)
    assert wf.active_tasks()
    t2 = time.perf_counter()
    return f"{(t2 - t0) * 1000} {(t1 - t0) * 1000}"


def cold_stock(path: str) -> float:
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

    from engine.deep import run_deep

    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    t0 = time.perf_counter()
    body = Path(path).read_text()
    wf = run_deep(serializer.deserialize_json, body)
    assert wf.task_tree is not None
    return (time.perf_counter() - t0) * 1000


def fresh(args: list[str]) -> list[float]:
    out = subprocess.run([sys.executable, __file__, "--cold", *args], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return [float(x) for x in out.stdout.strip().splitlines()[-1].split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer measured completions (under a minute)")
    parser.add_argument("--cold", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold and args.cold[0] == "stock":  # stock SpiffWorkflow alone: none of our modules loaded
        print(cold_stock(args.cold[1]))
        return
    from engine.install import build_runtime
    from engine.runtime import activate

    activate(build_runtime(name="bench"))  # this process's engine runtime: the engine's own parts
    if args.cold:
        print(cold_ours(args.cold[1], int(args.cold[2])))
        return

    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

    from store.db import Database
    from store.migrate import upgrade

    measured = 12 if args.quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        upgrade(url)
        db = Database(url)
        ours, stock300, iid1000, floor = measure_interleaved(db, measured)
        for n, cost in ours.items():
            print(f"ours  n={n:5d}: {cost * 1000:8.2f} ms per completion", flush=True)
        print(f"stock n=  300: {stock300 * 1000:8.2f} ms per completion", flush=True)
        print(f"commit floor (one small row, one audit entry, commit): {floor * 1000:.2f} ms", flush=True)
        engine_stock, engine_ours = engine_only(300, measured * 2)
        print(f"engine work only at 300 (no database): stock {engine_stock * 1000:.2f} ms, "
              f"ours {engine_ours * 1000:.3f} ms", flush=True)

        serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        stock_json = Path(tmp) / "stock1000.json"
        stock_json.write_text(serializer.serialize_json(stock_workflow(1000)))
        ours_total, ours_spec = fresh(["ours", url, str(iid1000)])
        cold = {"ours": ours_total, "ours_spec": ours_spec, "stock": fresh(["stock", str(stock_json)])[0]}
        print(f"cold load of a 1000-task instance: ours {cold['ours']:.1f} ms (of which the spec, once per version "
              f"and process: {ours_spec:.1f} ms), stock {cold['stock']:.1f} ms")
        db.dispose()
    result = {
        "benchmark": "engine_steps",
        "quick": args.quick,
        "ms_per_completion": {str(n): round(v * 1000, 3) for n, v in ours.items()},
        "stock_ms_per_completion_300": round(stock300 * 1000, 3),
        "commit_floor_ms": round(floor * 1000, 3),
        "growth_ratio": round(ours[1000] / ours[10], 3),
        "speedup_vs_stock": round(stock300 / ours[300], 2),
        "cold_load_ms_1000": {"ours": round(cold["ours"], 1), "stock": round(cold["stock"], 1),
                              "ours_spec_part": round(cold["ours_spec"], 1)},
        "engine_only_ms_300": {"stock": round(engine_stock * 1000, 3), "ours": round(engine_ours * 1000, 3)},
        "engine_only_speedup_300": round(engine_stock / engine_ours, 1),
        "goals": {"growth_ratio_max": 2, "speedup_vs_stock_min": 10},
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
