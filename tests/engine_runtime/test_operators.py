"""Service-task operators: typed registry, deploy-time checks, BPMN error mapping, long runs, built-ins."""
from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState

from engine.operators import (
    OperatorCaller,
    OperatorFailed,
    OperatorParameterError,
    OperatorRegistrationError,
    OperatorRegistry,
    OperatorTaskError,
    Param,
    UnknownOperator,
    check_operator_call,
    check_workflow_spec,
    pending_operations,
    register_builtins,
    run_pending_operation,
)
from engine.spiff.script_engine import make_script_engine
from tests.engine_runtime.support import InMemoryOperatorContext, parse, workflow

REQ = pytest.mark.req("URS-RUN-005", "P11-10f")


def _params(**values: tuple[str, str]) -> str:
    return "".join(f'<spiffworkflow:parameter id="{name}" type="{kind}" value="{expr}" />'
                   for name, (kind, expr) in values.items())


def _registry() -> OperatorRegistry:
    registry = OperatorRegistry()
    register_builtins(registry)

    def check_weight(context: Any, weight: float, low: float, high: float) -> dict[str, Any]:
        if not low <= weight <= high:
            raise OperatorFailed("out_of_limit", f"weight {weight} outside {low}..{high}",
                                 {"weight": weight, "low": low, "high": high})
        return {"ok": True}

    def sample_temperature(context: Any, samples: int) -> dict[str, Any]:
        taken = []
        for n in range(samples):
            taken.append(20.0 + n)
            context.save_progress({"taken": list(taken)})
        return {"samples": taken}

    def buggy(context: Any) -> None:
        raise KeyError("missing calibration")

    def wrong_result(context: Any) -> Any:
        return {1, 2}

    registry.register("check_weight", check_weight, [Param("weight", "float"), Param("low", "float"),
                                                     Param("high", "float")], error_codes=["out_of_limit"])
    registry.register("sample_temperature", sample_temperature, [Param("samples", "int")], long_running=True)
    registry.register("buggy", buggy)
    registry.register("wrong_result", wrong_result)
    return registry


def _run(operator: str, params: str, data: dict[str, Any] | None = None,
         context: InMemoryOperatorContext | None = None) -> tuple[Any, InMemoryOperatorContext]:
    ctx = context or InMemoryOperatorContext()
    engine = make_script_engine(service_caller=OperatorCaller(_registry(), context_for=lambda task: ctx))
    wf = workflow({"operator_call.bpmn": {"XML_OPERATOR": operator, "XML_PARAMS": params}}, "operator_call",
                  engine=engine, data=data)
    return wf, ctx


WEIGHT = _params(weight=("float", "weight"), low=("float", "9.5"), high=("float", "10.5"))


@REQ
def test_operator_result_lands_in_the_result_variable() -> None:
    wf, _ = _run("check_weight", WEIGHT, {"weight": 10.0})
    wf.do_engine_steps()
    assert wf.is_completed() and wf.last_task.data["result"] == {"ok": True}
    assert wf.get_next_task(spec_name="end").state == TaskState.COMPLETED


@REQ
def test_operator_error_becomes_the_caught_bpmn_error_event() -> None:
    wf, _ = _run("check_weight", WEIGHT, {"weight": 12.0})
    wf.do_engine_steps()
    assert wf.is_completed()
    assert wf.get_next_task(spec_name="call_operator").state == TaskState.CANCELLED
    assert wf.get_next_task(spec_name="end_deviation").state == TaskState.COMPLETED
    assert wf.last_task.data["limit_error"] == {
        "code": "out_of_limit", "message": "weight 12.0 outside 9.5..10.5",
        "details": {"weight": 12.0, "low": 9.5, "high": 10.5}}


@REQ
def test_uncaught_operator_error_is_a_clear_task_error() -> None:
    wf, _ = _run("raise_deviation", _params(title=("str", "'Spill'"), severity=("str", "'catastrophic'")))
    with pytest.raises(OperatorTaskError, match=r"service task 'call_operator' \(Call operator\): operator "
                       r"'raise_deviation' failed with error code 'invalid_severity': severity must be minor"):
        wf.do_engine_steps()
    assert wf.get_next_task(spec_name="call_operator").state == TaskState.ERROR


@REQ
def test_an_operator_bug_surfaces_as_itself() -> None:
    wf, _ = _run("buggy", "")
    with pytest.raises(OperatorTaskError, match=r"'call_operator'.*operator 'buggy' raised KeyError: 'missing calibration'"):
        wf.do_engine_steps()


def test_a_result_that_is_not_json_is_refused() -> None:
    wf, _ = _run("wrong_result", "")
    with pytest.raises(OperatorTaskError, match=r"returned a value that is not JSON"):
        wf.do_engine_steps()


@REQ
def test_evaluated_parameters_are_type_checked() -> None:
    wf, _ = _run("check_weight", WEIGHT, {"weight": "ten"})
    with pytest.raises(OperatorParameterError, match=r"'call_operator'.*parameter 'weight' must be float, got str 'ten'"):
        wf.do_engine_steps()


def test_unknown_operator_at_run_time() -> None:
    wf, _ = _run("not_there", "")
    with pytest.raises(OperatorTaskError, match=r"'call_operator'.*operator 'not_there' is not registered"):
        wf.do_engine_steps()


@REQ
def test_deploy_time_check_lists_every_problem() -> None:
    registry = _registry()
    ok = {"weight": {"type": "float", "value": "weight"}, "low": {"type": "float", "value": "9.5"},
          "high": {"type": "float", "value": "10"}}
    assert registry.check_call("check_weight", ok) == []
    problems = registry.check_call("check_weight", {
        "weight": {"type": "str", "value": "weight"},
        "low": {"type": "float", "value": "'low'"},
        "colour": {"type": "str", "value": "'red'"},
    })
    assert problems == [
        "operator 'check_weight': required parameter 'high' (float) is missing",
        "operator 'check_weight': parameter 'weight' is declared 'str' in the diagram, the operator takes 'float'",
        "operator 'check_weight': parameter 'low' must be float, the diagram gives str 'low'",
        "operator 'check_weight': unknown parameter 'colour' (expected: weight, low, high)",
    ]
    bad = registry.check_call("check_weight", dict(ok, weight={"type": "float", "value": "__import__('os')"}))
    assert len(bad) == 1 and "'weight'" in bad[0] and "not allowed" in bad[0]
    empty = registry.check_call("check_weight", dict(ok, weight={"type": "float", "value": " "}))
    assert empty == ["operator 'check_weight': parameter 'weight' has no value expression"]
    assert registry.check_call("nope", {})[0].startswith("operator 'nope' is not registered (registered: ")


@REQ
def test_check_workflow_spec_names_the_element() -> None:
    spec, subs = parse({"operator_call.bpmn": {"XML_OPERATOR": "check_weight",
                                               "XML_PARAMS": _params(weight=("float", "weight"))}}, "operator_call")
    assert check_workflow_spec(spec, subs, _registry()) == [
        ("call_operator", "operator 'check_weight': required parameter 'low' (float) is missing"),
        ("call_operator", "operator 'check_weight': required parameter 'high' (float) is missing"),
    ]
    builtins = OperatorRegistry()
    register_builtins(builtins)
    assert check_operator_call("raise_deviation", {"title": {"type": "str", "value": "'x'"}}, builtins) == []


def test_registration_errors() -> None:
    registry = OperatorRegistry()
    registry.register("a.b", lambda context: None)
    with pytest.raises(OperatorRegistrationError, match="registered already"):
        registry.register("a.b", lambda context: None)
    with pytest.raises(OperatorRegistrationError, match="must be dotted identifiers"):
        registry.register("a b", lambda context: None)
    with pytest.raises(OperatorRegistrationError, match="unknown type 'decimal'"):
        Param("x", "decimal")
    with pytest.raises(OperatorRegistrationError, match="duplicate parameter names"):
        registry.register("c", lambda context, x: None, [Param("x"), Param("x")])
    with pytest.raises(UnknownOperator, match="'zz' is not registered"):
        registry.get("zz")

    @registry.operator("decorated", [Param("n", "int")])
    def decorated(context: Any, n: int) -> int:
        return n

    assert registry.names() == ["a.b", "decorated"] and registry.copy().get("decorated").function is decorated


@REQ
def test_long_running_operator_waits_for_the_scheduler_and_keeps_progress() -> None:
    wf, ctx = _run("sample_temperature", _params(samples=("int", "n_samples")), {"n_samples": 3})
    wf.do_engine_steps()
    task = wf.get_next_task(spec_name="call_operator")
    assert task.state == TaskState.STARTED and not wf.is_completed()
    (pending,) = pending_operations(wf)
    assert (pending.element_id, pending.operator, pending.params) == ("call_operator", "sample_temperature", {"samples": 3})
    run_pending_operation(wf, pending.task_id)
    wf.do_engine_steps()
    assert wf.is_completed() and wf.last_task.data["result"] == {"samples": [20.0, 21.0, 22.0]}
    assert ctx.progress == [{"taken": [20.0]}, {"taken": [20.0, 21.0]}, {"taken": [20.0, 21.0, 22.0]}]
    assert task.internal_data["operator"]["progress"] == {"taken": [20.0, 21.0, 22.0]}
    assert pending_operations(wf) == []


@pytest.mark.req("URS-RUN-006", "A11-13")
def test_builtin_operators_use_the_instance_api() -> None:
    wf, ctx = _run("raise_deviation", _params(title=("str", "'Weight out of tolerance'"),
                                              context=("dict", "{'batch': batch, 'value': 12.0}"),
                                              severity=("str", "'major'")), {"batch": "B-7"})
    wf.do_engine_steps()
    assert ctx.deviations == [("Weight out of tolerance", {"batch": "B-7", "value": 12.0}, "major")]
    assert wf.last_task.data["result"] == {"deviation_id": "DEV-1", "title": "Weight out of tolerance", "severity": "major"}

    wf, ctx = _run("start_linked_process", _params(process_key=("str", "'deviation'"), data=("dict", "{'batch': batch}")),
                   {"batch": "B-7"})
    wf.do_engine_steps()
    assert ctx.started == [("deviation", {"batch": "B-7"}, "linked")]
    assert wf.last_task.data["result"]["instance_id"] == "linked-1"

    wf, ctx = _run("record_exception", _params(kind=("str", "'out_of_limit'"), message=("str", "'LOD 6.1% > 5%'")))
    wf.do_engine_steps()
    assert ctx.exceptions == [("out_of_limit", "LOD 6.1% > 5%", {})]
    assert wf.last_task.data["result"] == {"exception_id": "EXC-1", "kind": "out_of_limit"}


def test_outside_an_engine_step_a_short_operator_waits_and_cannot_run_without_a_context() -> None:
    engine = make_script_engine(service_caller=OperatorCaller(_registry()))
    wf = workflow({"operator_call.bpmn": {"XML_OPERATOR": "buggy", "XML_PARAMS": ""}}, "operator_call", engine=engine)
    wf.do_engine_steps()
    (pending,) = pending_operations(wf)
    assert pending.operator == "buggy"
    with pytest.raises(OperatorTaskError, match="no operator context is attached"):
        run_pending_operation(wf, pending.task_id)
