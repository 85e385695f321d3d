"""engine.checks.catches_errors: where a BPMN error thrown at a task is caught (the upload
check of a task whose signature authorises an action that can fail)."""
from __future__ import annotations

import pytest
from lxml import etree

from engine.checks import catches_errors

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"')


def tree(body: str) -> dict:
    return {"p.bpmn": etree.fromstring(f'<bpmn:definitions {NS} id="d"><bpmn:process id="p">{body}'
                                       '</bpmn:process></bpmn:definitions>')}


TASK = '<bpmn:userTask id="t"/>'
ERROR_ON = '<bpmn:boundaryEvent id="b" attachedToRef="{}"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>'


@pytest.mark.parametrize("body,caught", [
    (TASK + ERROR_ON.format("t"), True),
    (f'<bpmn:subProcess id="sp">{TASK}</bpmn:subProcess>' + ERROR_ON.format("sp"), True),
    (TASK + '<bpmn:subProcess id="es" triggeredByEvent="true"><bpmn:startEvent id="s">'
            '<bpmn:errorEventDefinition/></bpmn:startEvent></bpmn:subProcess>', True),
    (TASK, False),
    (TASK + '<bpmn:userTask id="other"/>' + ERROR_ON.format("other"), False),
    (TASK + '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:timerEventDefinition/></bpmn:boundaryEvent>', False),
    (TASK + '<bpmn:subProcess id="es" triggeredByEvent="true"><bpmn:startEvent id="s">'
            '<bpmn:messageEventDefinition/></bpmn:startEvent></bpmn:subProcess>', False),
    (f'<bpmn:subProcess id="sp">{TASK}</bpmn:subProcess>', False),
])
def test_an_error_at_a_task_is_caught_by_a_boundary_on_it_or_around_it_or_an_error_event_subprocess(body, caught):
    assert catches_errors(tree(body), "t") is caught


def test_an_element_that_is_not_in_the_files_is_not_caught():
    assert catches_errors(tree(TASK + ERROR_ON.format("t")), "missing") is False
