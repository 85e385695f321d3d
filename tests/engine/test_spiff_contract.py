"""Contract of SpiffWorkflow: what the adapter (engine/spiff/) relies on, pinned.

The adapter uses SpiffWorkflow's private attributes and methods in a few places (listed in
engine/spiff/__init__.py). After an upgrade of SpiffWorkflow these tests fail first, each
naming what changed and which adapter module to adapt, before any engine test fails in a
less obvious way.
"""
from __future__ import annotations

import inspect
import json
from importlib.metadata import version
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import AdHocSubprocessSpec
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.spiff.specs.mixins.service_task import ServiceTask as ServiceTaskMixin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.workflow import Workflow

from engine.spiff.parser import GmpBpmnParser
from engine.spiff.script_engine import attach_script_engine
from engine.spiff.serializer import build_workflow, serializer, task_body, workflow_state
from engine.spiff.steps import new_workflow
from engine.spiff.timers import ClockDurationTimerEventDefinition
from engine.spiff.workflow import GmpWorkflow, TrackedTask
from tests.engine.conftest import bundle_files, chain_bpmn

VERIFIED = "3.2.0"
pytestmark = pytest.mark.req("URS-ENG-012")


def _changed(what: str, module: str) -> str:
    return (f"SpiffWorkflow {version('SpiffWorkflow')} changed: {what}. The adapter was verified against "
            f"{VERIFIED}; adapt engine/spiff/{module} and this contract.")


def _specs(files: dict[str, bytes], process_id: str):  # type: ignore[no-untyped-def]
    parser = GmpBpmnParser(validator=VALIDATOR)
    for name, content in files.items():
        if name.endswith(".bpmn"):
            parser.add_bpmn_str(content, filename=name)
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def test_the_installed_version_is_the_verified_one():
    assert version("SpiffWorkflow") == VERIFIED, _changed("the version", "__init__.py (and re-run this contract)")


# ---------------------------------------------------------------- tasks (workflow.py, serializer.py)
def test_task_init_registers_before_it_sets_its_state():
    """TaskTable swaps the class of a new task when it is registered; the state set after that
    goes through TrackedTask._state and reaches the index."""
    source = inspect.getsource(Task.__init__)
    assert source.index("workflow.tasks[self.id] = self") < source.index("self._state = state"), \
        _changed("Task.__init__ no longer registers the task before setting _state", "workflow.py")


def test_task_init_sets_exactly_the_attributes_the_loader_restores():
    spec, subs = _specs({"chain.bpmn": chain_bpmn(1)}, "chain")
    wf = BpmnWorkflow(spec, subs)
    plain = {k for k in vars(wf.task_tree) if not k.startswith("__")}
    assert plain == {"id", "workflow", "_parent", "_children", "_state", "triggered", "task_spec", "thread_id", "data",
                     "internal_data", "last_state_change"}, \
        _changed(f"Task.__init__ sets {sorted(plain)}", "serializer.py (_restore_tasks)")


def test_state_lives_in_task_state_and_children_come_from_add_child():
    assert "return self._state" in inspect.getsource(Task.state.fget), _changed("Task.state is not _state", "workflow.py")
    assert "self._state = value" in inspect.getsource(Task._set_state), \
        _changed("Task._set_state does not set _state", "workflow.py")
    add_child = inspect.getsource(Task._add_child)
    assert "Task(self.workflow, task_spec, self" in add_child, \
        _changed("Task._add_child no longer builds a plain Task", "workflow.py (TaskTable)")
    assert "_child_added_notify" in inspect.getsource(Task.__init__), \
        _changed("a new task no longer notifies its parent", "workflow.py")


def test_workflow_assigns_its_task_table_whole_and_queries_as_the_index_expects():
    assert "self.tasks = {}" in inspect.getsource(Workflow.__init__), \
        _changed("Workflow.__init__ no longer assigns the task table whole", "workflow.py")
    params = list(inspect.signature(BpmnWorkflow.get_tasks_iterator).parameters)
    assert params[:2] == ["self", "first_task"], _changed(f"get_tasks_iterator{params}", "workflow.py")
    task_filter = BpmnTaskFilter(state=TaskState.READY, manual=True)
    assert task_filter.state == TaskState.READY and callable(task_filter.matches), \
        _changed("BpmnTaskFilter has no state/matches", "workflow.py")
    assert "task_spec._update(task)" in inspect.getsource(BpmnWorkflow.update_waiting_tasks), \
        _changed("update_waiting_tasks does not update each waiting task's spec", "workflow.py")


def test_the_index_answers_as_the_tree_walk_does():
    """Our index of active tasks gives the same tasks as SpiffWorkflow's walk, on the sample process."""
    spec, subs = _specs(bundle_files("line_clearance"), "line_clearance")
    ours, stock = new_workflow(spec, subs), BpmnWorkflow(spec, subs)
    for wf in (ours, stock):
        wf.do_engine_steps()
    for state in (TaskState.READY, TaskState.WAITING, TaskState.READY | TaskState.WAITING):
        indexed = {t.task_spec.name for t in ours.get_tasks(state=state)}
        walked = {t.task_spec.name for t in stock.get_tasks(state=state)}
        assert indexed == walked, _changed(f"the active tasks ({state}) differ from the walk", "workflow.py")
    assert all(type(t) is TrackedTask for t in ours.tasks.values())


def test_a_workflow_rebuilt_from_its_rows_equals_the_one_saved():
    spec, subs = _specs({"chain.bpmn": chain_bpmn(3)}, "chain")
    wf = new_workflow(spec, subs)
    wf.do_engine_steps()
    wf.get_tasks(state=TaskState.READY, manual=True)[0].run()
    wf.do_engine_steps()
    rows = [(str(t.id), "", n, json.dumps(task_body(t))) for n, t in enumerate(wf.tasks.values())]
    rebuilt = build_workflow(spec, subs, workflow_state(wf), rows)
    assert {str(t.id): (t.state, t.task_spec.name, t.data) for t in rebuilt.tasks.values()} == \
        {str(t.id): (t.state, t.task_spec.name, t.data) for t in wf.tasks.values()}


def test_subprocesses_are_created_through_create_subprocess():
    assert list(inspect.signature(BpmnWorkflow.create_subprocess).parameters) == ["self", "my_task", "spec_name"], \
        _changed("BpmnWorkflow.create_subprocess signature", "workflow.py")
    params = list(inspect.signature(BpmnSubWorkflow.__init__).parameters)
    assert params[:4] == ["self", "spec", "parent_task_id", "top_workflow"], \
        _changed(f"BpmnSubWorkflow{params}", "workflow.py, serializer.py")
    start = inspect.getsource(SubWorkflowTask.start_workflow)
    assert "create_subprocess(my_task, self.spec)" in start and "_on_subworkflow_completed" in start, \
        _changed("SubWorkflowTask.start_workflow", "call_activity.py")


# ---------------------------------------------------------------- scripts (script_engine.py)
def test_script_engine_hands_task_data_to_its_environment():
    assert "self.environment.evaluate(expression, task.data, external_context)" in \
        inspect.getsource(PythonScriptEngine.evaluate), _changed("PythonScriptEngine.evaluate", "script_engine.py")
    assert "self.environment.execute(script, task.data" in inspect.getsource(PythonScriptEngine.execute), \
        _changed("PythonScriptEngine.execute", "script_engine.py")


def test_some_expressions_are_evaluated_without_a_task():
    """Message correlations and process completion conditions call the environment directly:
    the environment names their element from the specs (SiteIndex), not from the call stack."""
    assert "script_engine.environment.evaluate(prop.retrieval_expression" in \
        inspect.getsource(MessageEventDefinition.calculate_correlations), \
        _changed("message correlations are no longer evaluated by the environment", "script_engine.py")
    assert "environment.evaluate(self.completion_condition" in inspect.getsource(AdHocSubprocessSpec.path_complete), \
        _changed("completion conditions are no longer evaluated by the environment", "script_engine.py")


def test_service_tasks_call_the_script_engine_with_the_operation():
    source = inspect.getsource(ServiceTaskMixin._execute)
    assert "call_service(" in source and "operation_name=" in source and "operation_params=" in source, \
        _changed("ServiceTask._execute no longer calls script_engine.call_service", "service_task.py")
    assert hasattr(ServiceTask, "evaluate_params"), _changed("ServiceTask.evaluate_params is gone", "service_task.py")


def test_the_workflow_deserializer_attaches_an_unrestricted_engine():
    """Why every workflow gets our engine from attach_script_engine: SpiffWorkflow's own
    deserializer gives a loaded workflow a plain PythonScriptEngine."""
    spec, subs = _specs({"chain.bpmn": chain_bpmn(1)}, "chain")
    loaded = serializer().deserialize_json(serializer().serialize_json(BpmnWorkflow(spec, subs)))
    assert type(loaded.script_engine) is PythonScriptEngine


# ---------------------------------------------------------------- timers and parsing
def test_timer_definitions_answer_through_has_fired_and_internal_data():
    for definition, name in ((TimeDateEventDefinition, "has_fired"), (DurationTimerEventDefinition, "has_fired"),
                             (CycleTimerEventDefinition, "cycle_complete")):
        assert name in vars(definition), _changed(f"{definition.__name__}.{name} is gone", "timers.py")
    assert issubclass(ClockDurationTimerEventDefinition, DurationTimerEventDefinition)
    assert hasattr(Task, "_get_internal_data") and hasattr(Task, "_set_internal_data"), \
        _changed("Task._get_internal_data/_set_internal_data are gone", "timers.py")


def test_the_parser_takes_our_spec_classes_and_leaves_unknown_called_processes_out():
    for tag in ("serviceTask", "callActivity", "startEvent", "intermediateCatchEvent", "boundaryEvent"):
        assert full_tag(tag) in SpiffBpmnParser.OVERRIDE_PARSER_CLASSES, \
            _changed(f"the spiff parser no longer overrides {tag}", "parser.py")
    params = inspect.signature(BpmnParser.get_subprocess_specs).parameters
    assert "require_call_activity_specs" in params, _changed("get_subprocess_specs signature", "parser.py")
    assert isinstance(GmpWorkflow(*_specs({"chain.bpmn": chain_bpmn(1)}, "chain")), BpmnWorkflow)


# ---------------------------------------------------------------- events falling due together (event_races.py)
_TWO_DEADLINES = (Path(__file__).resolve().parents[1] / "engine_runtime" / "processes" / "two_deadlines.bpmn")
_GATEWAY = (Path(__file__).resolve().parents[1] / "engine_runtime" / "processes" / "race_gateway.bpmn")


def _race(path: Path, process_id: str, values: dict[str, str], workflow_class: type):  # type: ignore[no-untyped-def]
    text = path.read_text()
    for key, value in values.items():
        text = text.replace("$" + key, value)
    wf = workflow_class(*_specs({path.name: text.encode()}, process_id))
    attach_script_engine(wf)
    wf.do_engine_steps()
    return wf


def _completed(wf, *names: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {n for n in names if any(t.state == TaskState.COMPLETED for t in wf.get_tasks(spec_name=n))}


def test_boundary_events_hang_under_their_split_and_stock_spiff_fires_every_ready_one(frozen_clock):  # type: ignore[no-untyped-def]
    values = {"LATE": '"PT30M"', "EXPIRED": '"PT1H"', "INTERRUPTS_LATE": "true", "INTERRUPTS_EXPIRED": "true",
              "XML_MORE": ""}
    stock = _race(_TWO_DEADLINES, "two_deadlines", values, BpmnWorkflow)
    split = stock.get_next_task(spec_name="work.BoundaryEventSplit")
    assert isinstance(split.task_spec, BoundaryEventSplit), _changed("boundary events have no BoundaryEventSplit", "event_races.py")
    assert [c.task_spec.bpmn_id for c in split.children] == ["work", "late", "expired"], \
        _changed("a BoundaryEventSplit's children are no longer the activity then its events in file order",
                 "event_races.py")
    assert all(isinstance(c.task_spec, BoundaryEvent) and c.task_spec.cancel_activity for c in split.children[1:])
    frozen_clock.advance(hours=2)
    stock.refresh_timers()
    stock.do_engine_steps()
    # What engine.spiff.event_races corrects: if this fails, SpiffWorkflow decides the race itself now.
    assert _completed(stock, "note_late", "note_expired") == {"note_late", "note_expired"}, \
        _changed("two ready interrupting boundary events no longer both run", "event_races.py (maybe no longer needed)")
    ours = _race(_TWO_DEADLINES, "two_deadlines", values, GmpWorkflow)
    frozen_clock.advance(hours=2)
    ours.refresh_timers()
    late = ours.get_next_task(spec_name="late")
    assert late.state == TaskState.READY
    ours.do_engine_steps()
    assert _completed(ours, "note_late", "note_expired") == {"note_late"}
    expired = [t for t in ours.get_tasks(spec_name="expired")][0]
    assert expired.state == TaskState.CANCELLED and expired.id not in ours.event_manager.tasks, \
        _changed("Task.cancel() of a READY boundary event no longer cancels it", "event_races.py")
    assert "_do_engine_steps" in inspect.getsource(BpmnWorkflow.do_engine_steps), \
        _changed("do_engine_steps no longer runs its rounds through _do_engine_steps", "workflow.py")


def test_event_based_gateway_keeps_seen_events_and_our_timers(frozen_clock):  # type: ignore[no-untyped-def]
    values = {"FIRST": '"PT1H"', "SECOND": '"PT30M"', "XML_OUT": "", "XML_MORE": ""}
    wf = _race(_GATEWAY, "race_gateway", values, GmpWorkflow)
    gateway = wf.get_next_task(spec_name="which")
    assert isinstance(gateway.task_spec, EventBasedGateway)
    inner = gateway.task_spec.event_definition.event_definitions
    assert [type(d) for d in inner] == [ClockDurationTimerEventDefinition] * 2, \
        _changed("an event-based gateway no longer holds its events' definitions", "timers.py / event_races.py")
    assert "seen_events" in gateway.internal_data, _changed("the gateway keeps no seen_events", "event_races.py")
    frozen_clock.advance(hours=2)
    wf.refresh_timers()
    wf.do_engine_steps()
    assert _completed(wf, "note_first", "note_second") == {"note_second"}


_CYCLE_NAG = """
    <bpmn:boundaryEvent id="nag" name="Nag" attachedToRef="work" cancelActivity="true"><bpmn:outgoing>f_nag</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle>"R/PT15M"</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_nag" sourceRef="nag" targetRef="end_nag" />
    <bpmn:endEvent id="end_nag"><bpmn:incoming>f_nag</bpmn:incoming></bpmn:endEvent>"""


def test_stock_spiff_cycle_timers_never_fire_their_event_and_predict_no_path(frozen_clock):  # type: ignore[no-untyped-def]
    # What ClockCycleTimerEventDefinition corrects for an interrupting boundary event: stock SpiffWorkflow's
    # cycle only starts the path at each occurrence (update_task) and fires the event itself when the cycles
    # run out (never for R/...), so the activity was never interrupted.
    assert "has_fired" not in vars(CycleTimerEventDefinition) and "update_task" in vars(CycleTimerEventDefinition), \
        _changed("CycleTimerEventDefinition now decides has_fired itself or lost update_task", "timers.py")
    assert "CycleTimerEventDefinition" in inspect.getsource(CatchingEvent._predict_hook), \
        _changed("a cycle timer's task now gets predicted children", "timers.py (_sync_children)")
    assert "_sync_children" in vars(Task), _changed("Task._sync_children is gone", "timers.py")
    values = {"LATE": '"PT10H"', "EXPIRED": '"PT10H"', "INTERRUPTS_LATE": "true", "INTERRUPTS_EXPIRED": "true",
              "XML_MORE": _CYCLE_NAG}
    ours = _race(_TWO_DEADLINES, "two_deadlines", values, GmpWorkflow)
    nag = ours.get_next_task(spec_name="nag")
    assert nag.state == TaskState.WAITING and nag.children == []
    frozen_clock.advance(minutes=16)
    ours.refresh_timers()
    ours.do_engine_steps()
    assert _completed(ours, "nag", "end_nag") == {"nag", "end_nag"}
    assert [t.state for t in ours.get_tasks(spec_name="work")] == [TaskState.CANCELLED]


def test_an_event_based_gateway_finds_the_path_by_equality_and_timers_equal_by_name():  # type: ignore[no-untyped-def]
    assert ".index(event.event_definition)" in inspect.getsource(EventBasedGateway._run_hook), \
        _changed("an event-based gateway no longer finds the path by equality", "timers.py (_DistinctByExpression)")
    stock_a, stock_b = DurationTimerEventDefinition("Wait", '"PT1H"'), DurationTimerEventDefinition("Wait", '"PT30M"')
    assert stock_a == stock_b, _changed("timers of one name are no longer equal", "timers.py (maybe no longer needed)")
    ours_a = ClockDurationTimerEventDefinition("Wait", '"PT1H"')
    assert ours_a != ClockDurationTimerEventDefinition("Wait", '"PT30M"')
    assert ours_a == ClockDurationTimerEventDefinition("Wait", '"PT1H"')
