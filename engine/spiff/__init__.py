"""The one adapter between the engine and SpiffWorkflow.

Every use of SpiffWorkflow lives in this package: no other module of the product
imports it (tests/unit/test_layering.py checks). What the rest of the engine needs is
offered here as plain functions and our own subclasses:

| module | what it wraps |
|---|---|
| `errors.py` | SpiffWorkflow's exception root (our script errors derive from it) |
| `workflow.py` | `GmpWorkflow`: live-task index, change log, typed run state (`RunState`); task states |
| `serializer.py` | specs to and from JSON; one task as a row body; loading a workflow from its rows |
| `parser.py` | the BPMN parser with our spec classes; the BPMN schema check |
| `script_engine.py` | SpiffWorkflow's script engine over the restricted environment; naming elements in errors |
| `timers.py` | timer event definitions on the product's clock |
| `event_races.py` | which of several events due together fires (interrupting boundary events, event-based gateways) |
| `service_task.py` | service tasks calling the operator registry; BPMN errors from operator failures; long operators |
| `call_activity.py` | call activities that reach a separately approved process, pinned to its version when called |
| `events.py` | thrown messages and signals: which workflow catches what, delivery |
| `steps.py` | running engine steps, ready and waiting tasks, completing a user task, cancelling |

Behaviour of SpiffWorkflow that this package relies on (private attributes and methods
included) is pinned by tests/engine/test_spiff_contract.py: after an upgrade of
SpiffWorkflow those tests fail first, each naming what changed.

This `__init__` imports nothing, so that `engine.scripting` can import `engine.spiff.errors`
while `engine.spiff.script_engine` imports `engine.scripting`.
"""
