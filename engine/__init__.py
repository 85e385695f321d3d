"""The workflow engine: BPMN processes over SpiffWorkflow, under GMP controls.

Public API (docs/engine.md):
    engine.definitions  upload, approve, history, compare_versions, validate_upload
    engine.instances    start, cancel, list_instances, inspect
    engine.tasks        inbox, claim, release, complete_task
    engine.gates        register_gate (training, equipment, supplier, QP gates plug in here)
    engine.ports        SignatureInput, EngineServices, default_services

Rule: engine/ never imports Flask, web/, bpmn/ or connectors/; the process library and
the connectors plug into its registries.
"""
