"""The workflow engine: BPMN processes over SpiffWorkflow, under GMP controls.

Public API (docs/engine.md):
    engine.definitions  upload, approve, history, compare_versions, validate_upload
    engine.instances    start, cancel, advance, list_instances, inspect
    engine.tasks        inbox, claim, release, gate_refusal, complete_task
    engine.runtime      EngineRuntime (gates, task properties, operators, save hooks), using/activate
    engine.install      build_runtime: the engine's own parts of a runtime
    engine.ports        SignatureInput, EngineServices, default_services

Rules: engine/ never imports Flask, web/, bpmn/ or connectors/; the process library and
the connectors plug into a runtime object built by the install step (bpmn.glue), never
into module globals; only engine/spiff/ imports SpiffWorkflow.
"""
