"""The runtime sample at the SpiffWorkflow level: script, multi-instance (parallel and sequential),
call activity across files, DMN table beside the diagram, service operator, message to a second
process (message start event) and back with correlation by key, and a timer on the frozen clock."""
from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.operators import OperatorCaller
from engine.spiff.events import deliver
from engine.spiff.script_engine import make_script_engine
from tests.engine_runtime.support import InMemoryOperatorContext, parse

SAMPLE = {"sample/batch_record.bpmn": {"SEQUENTIAL": "false"}, "sample/yield_calculation.bpmn": {},
          "sample/yield_check.dmn": {}}


def _engine(context: InMemoryOperatorContext) -> Any:
    from engine.runtime import current_runtime

    return make_script_engine(service_caller=OperatorCaller(current_runtime().operators, context_for=lambda call: context))


def _batch(number: str, context: InMemoryOperatorContext, sequential: bool = False) -> BpmnWorkflow:
    files = dict(SAMPLE, **{"sample/batch_record.bpmn": {"SEQUENTIAL": "true" if sequential else "false"}})
    spec, subs = parse(files, "batch_record")
    wf = BpmnWorkflow(spec, subs, script_engine=_engine(context))
    wf.get_next_task(spec_name="Start").set_data(batch_number=number)
    wf.do_engine_steps()
    return wf


def _deviation(context: InMemoryOperatorContext) -> BpmnWorkflow:
    spec, subs = parse({"sample/deviation.bpmn": {}}, "deviation")
    wf = BpmnWorkflow(spec, subs, script_engine=_engine(context))
    wf.do_engine_steps()
    return wf


def _weigh(wf: BpmnWorkflow, weights: list[float]) -> list[str]:
    order = []
    for weight in weights:
        ready = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == "weigh_line"]
        task = ready[0]
        order.append(task.data["line"]["material"])
        task.set_data(net_weight=weight)
        task.run()
        wf.do_engine_steps()
    return order


@pytest.mark.req("URS-RUN-008", "A11-13")
def test_sample_runs_end_to_end_with_a_deviation_round_trip(frozen_clock: Any) -> None:
    context = InMemoryOperatorContext()
    batch = _batch("B-7", context)
    ready = [t for t in batch.get_tasks(state=TaskState.READY, manual=True)]
    assert len(ready) == 2  # parallel multi-instance: one weighing per bill-of-material line
    _weigh(batch, [10.0, 80.0])
    assert batch.get_next_task(spec_name="compute_yield").state == TaskState.COMPLETED
    data = batch.get_next_task(spec_name="await_outcome").data
    assert (data["weights"], data["yield_pct"], data["yield_verdict"]) == ([10.0, 80.0], 90.0, "deviation")
    assert context.exceptions == [("yield_out_of_range", "yield 90.0% outside 98-102%",
                                   {"yield_pct": 90.0, "batch_number": "B-7"})]

    other_context = InMemoryOperatorContext("inst-2")
    other = _batch("B-8", other_context)
    _weigh(other, [9.0, 80.0])

    (request,) = batch.get_events()
    assert request.correlations == {"batch_key": {"batch_number": "B-7"}}
    deviation = _deviation(context)
    assert deliver([request], {"deviation": deviation}) == [("deviation_request", "deviation")]
    deviation.do_engine_steps()
    assess = deviation.get_tasks(state=TaskState.READY, manual=True)[0]
    assert assess.data["deviation"] == {"batch_number": "B-7", "step": "yield", "value": 90.0, "limit": "98-102"}
    assess.set_data(classification="minor")
    assess.run()
    deviation.do_engine_steps()
    assert deviation.is_completed()

    (outcome,) = deviation.get_events()
    other.get_events()  # B-8's own request stays unanswered in this test
    assert deliver([outcome], {"B-8": other, "B-7": batch}) == [("deviation_outcome", "B-7")]
    batch.do_engine_steps()
    assert batch.get_next_task(spec_name="await_outcome").state == TaskState.COMPLETED
    assert other.get_next_task(spec_name="await_outcome").state == TaskState.WAITING
    assert not batch.is_completed()
    frozen_clock.advance(minutes=10)
    batch.refresh_timers()
    batch.do_engine_steps()
    assert batch.is_completed()
    assert batch.last_task.data["deviation_outcome"] == {"batch_number": "B-7", "classification": "minor"}


def test_sequential_multi_instance_weighs_one_line_after_the_other(frozen_clock: Any) -> None:
    context = InMemoryOperatorContext()
    batch = _batch("B-9", context, sequential=True)
    assert len(batch.get_tasks(state=TaskState.READY, manual=True)) == 1
    assert _weigh(batch, [10.0, 90.0]) == ["API", "Lactose"]
    assert batch.get_next_task(spec_name="classify_yield").data["yield_verdict"] == "in spec"
    assert context.exceptions == [] and batch.get_events() == []
    frozen_clock.advance(minutes=10)
    batch.refresh_timers()
    batch.do_engine_steps()
    assert batch.is_completed()


def test_an_undelivered_message_is_reported() -> None:
    context = InMemoryOperatorContext()
    batch = _batch("B-10", context)
    _weigh(batch, [1.0, 1.0])
    (request,) = batch.get_events()
    assert deliver([request], {}) == [("deviation_request", None)]
