"""The library's install step builds the runtime of every web application and `gmp` process."""
import subprocess
import sys

import pytest

from engine.errors import DefinitionCheckFailed, RegistrationError
from engine.install import build_runtime


@pytest.mark.req("URS-ENG-005")
def test_gmp_commands_install_the_library_runtime():
    code = ("import cli\n"
            "from click.testing import CliRunner\n"
            "from engine.runtime import current_runtime\n"
            "CliRunner().invoke(cli.gmp, ['config', '--help'])\n"
            "runtime = current_runtime()\n"
            "print(runtime.name, runtime.frozen, sorted(n for n in runtime.operators.names() if n.startswith('equipment.')),"
            " 'qualification.sops' in runtime.properties)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("gmp True [") and "equipment.read_tag" in out and "equipment.sample_tags" in out
    assert out.strip().endswith("True")


@pytest.mark.req("URS-ENG-005")
def test_the_web_application_holds_its_own_runtime(settings):
    from app import create_app
    from engine.runtime import current_runtime

    app = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url})
    try:
        runtime = app.extensions["gmp.runtime"]
        assert runtime.frozen and "equipment.write_tag" in runtime.operators.names()
        assert current_runtime() is not runtime  # building the application changed nothing process-wide
        with app.test_request_context("/"):
            app.preprocess_request()
            assert current_runtime() is runtime
    finally:
        app.extensions["gmp.db"].dispose()


def test_a_second_application_has_a_second_runtime(settings):
    from app import create_app

    one = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url})
    two = create_app({"instance_path": settings.instance_path, "database_url": settings.database_url})
    try:
        assert one.extensions["gmp.runtime"] is not two.extensions["gmp.runtime"]
        with pytest.raises(RegistrationError, match="frozen"):
            one.extensions["gmp.runtime"].operators.register("late.op", lambda ctx: None)
    finally:
        one.extensions["gmp.db"].dispose()
        two.extensions["gmp.db"].dispose()


@pytest.mark.req("URS-ENG-005", "URS-GATE-001", "URS-GATE-002")
def test_the_library_brings_the_master_data_gates_and_a_property_needing_a_missing_gate_is_refused():
    """The library declares `qualification.sops`, `equipment`, `material.lots` and registers their
    gates (training, equipment, supplier) and `qp`. A runtime with the properties but without
    the gates refuses a definition naming SOPs at upload."""
    from bpmn.glue import LIBRARY_PROPERTIES, install
    from engine.checks import check_bundle, ensure_valid
    from engine.parsing import parse_bundle
    from tests.engine.conftest import ALL_ROLES, MEANINGS, bundle_files

    files = bundle_files("line_clearance")
    files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(
        b'<spiffworkflow:property name="gates" value="four_eyes_previous"/>',
        b'<spiffworkflow:property name="gates" value="four_eyes_previous"/>'
        b'<spiffworkflow:property name="qualification.sops" value="SOP-QA-003"/>')
    bundle = parse_bundle(files)
    runtime = install()
    assert {"training", "equipment", "supplier", "qp"} <= runtime.gates.names()
    assert "material.lots" in runtime.properties and "recipe" in runtime.changes
    assert [str(p) for p in check_bundle(bundle, roles=ALL_ROLES, meanings=MEANINGS, runtime=runtime)] == []
    engine_only = [str(p) for p in check_bundle(bundle, roles=ALL_ROLES, meanings=MEANINGS, runtime=build_runtime())]
    assert any("unknown extension property 'qualification.sops'" in p for p in engine_only), engine_only
    without_gates = build_runtime()
    for prop in LIBRARY_PROPERTIES:
        without_gates.properties.register(prop)
    found = [str(p) for p in check_bundle(bundle, roles=ALL_ROLES, meanings=MEANINGS, runtime=without_gates)]
    assert any("element 'qa_approval': property 'qualification.sops' needs gate 'training', which is not registered"
               in p for p in found), found
    with pytest.raises(DefinitionCheckFailed, match="needs gate 'training'"):
        ensure_valid(bundle, roles=ALL_ROLES, meanings=MEANINGS, runtime=without_gates)


@pytest.mark.req("URS-ENG-005", "URS-GATE-001", "URS-GATE-002")
def test_an_upload_naming_sops_is_refused_while_no_training_gate_is_registered(db, runtime):
    """The upload itself (engine.definitions.upload), on both databases: with the library's
    properties but not its gates the definition is refused, naming the element, and nothing
    is stored; with the library's gates the same files are accepted."""
    from sqlalchemy import func, select

    from audit.models import AuditEntry
    from bpmn.glue import LIBRARY_PROPERTIES, extend
    from engine import definitions
    from engine.models import ProcessDefinition, ProcessDefinitionVersion
    from engine.runtime import using
    from store.uow import UnitOfWork
    from tests.engine.conftest import ALL_ROLES, actor, bundle_files

    files = bundle_files("line_clearance")
    files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(
        b'<spiffworkflow:property name="gates" value="four_eyes_previous"/>',
        b'<spiffworkflow:property name="gates" value="four_eyes_previous"/>'
        b'<spiffworkflow:property name="qualification.sops" value="SOP-QA-003"/>')
    for prop in LIBRARY_PROPERTIES:
        runtime.properties.register(prop)
    assert "training" not in runtime.gates
    with UnitOfWork(db, actor("anna")) as uow:
        with pytest.raises(DefinitionCheckFailed) as refused:
            definitions.upload(uow, files, reason="needs SOP training", roles=ALL_ROLES)
    assert [str(p) for p in refused.value.problems if "training" in str(p)] == [
        "line_clearance.bpmn:74, element 'qa_approval': property 'qualification.sops' needs gate 'training', which is "
        "not registered (registered: four_eyes, four_eyes_previous)"]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ProcessDefinition)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0

    with using(extend(build_runtime(name="library"))), UnitOfWork(db, actor("anna")) as uow:
        version = definitions.upload(uow, files, reason="needs SOP training", roles=ALL_ROLES)
        uow.commit()
    with db.session() as session:
        assert session.get(ProcessDefinitionVersion, version.id).status == "draft"
