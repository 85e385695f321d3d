"""Safe parsing and checking of uploads: every failure names file, line and element."""
from __future__ import annotations

import threading

import pytest

from engine.checks import check_bundle, ensure_valid
from engine.errors import DefinitionCheckFailed, DefinitionError, UnsafeXmlError
from engine.parsing import MAX_FILE_BYTES, parse_bundle
from engine.runtime import current_runtime
from tests.engine.conftest import ALL_ROLES, MEANINGS, bundle_files, chain_bpmn

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</bpmn:definitions>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>"""


def sample(**changes: bytes) -> dict[str, bytes]:
    files = bundle_files("line_clearance")
    files.update(changes)
    return files


def replace(old: str, new: str) -> dict[str, bytes]:
    files = bundle_files("line_clearance")
    text = files["line_clearance.bpmn"].decode()
    assert old in text
    files["line_clearance.bpmn"] = text.replace(old, new).encode()
    return files


def problems(files: dict[str, bytes], roles=ALL_ROLES, runtime=None) -> list[str]:
    return [str(p) for p in check_bundle(parse_bundle(files), roles=roles, meanings=MEANINGS,
                                         runtime=runtime or current_runtime())]


@pytest.mark.req("URS-ENG-001")
@pytest.mark.parametrize("content,match", [
    (BILLION_LAUGHS, r"x\.bpmn:2: DOCTYPE declarations are not allowed"),
    (EXTERNAL, r"x\.bpmn:2: DOCTYPE declarations are not allowed"),
    (b'<?xml version="1.0"?>\n<a><b></a>', r"x\.bpmn:2: not well-formed XML"),
    (b"<a>" * 100 + b"</a>" * 100, r"nested deeper than 64 levels"),
])
def test_hostile_xml_is_refused(content, match):
    with pytest.raises(UnsafeXmlError, match=match):
        parse_bundle({"x.bpmn": content})


@pytest.mark.req("URS-ENG-001")
def test_oversized_file_is_refused():
    with pytest.raises(UnsafeXmlError, match="more than the limit"):
        parse_bundle({"x.bpmn": b" " * (MAX_FILE_BYTES + 1)})


@pytest.mark.req("URS-ENG-001")
@pytest.mark.parametrize("files,match", [
    ({}, "no files uploaded"),
    ({"../evil.bpmn": b"<a/>"}, "file names may use"),
    ({"notes.txt": b"x"}, "unsupported file type"),
    ({"forms/a.json": b"{}"}, "contains no .bpmn file"),
    ({"x.bpmn": b'<?xml version="1.0"?><foo/>'}, r"x\.bpmn:1: not a BPMN 2\.0 file"),
])
def test_bad_uploads_are_refused(files, match):
    with pytest.raises(DefinitionError, match=match):
        parse_bundle(files)


@pytest.mark.req("URS-ENG-002")
def test_schema_errors_name_file_and_line():
    files = replace('<bpmn:exclusiveGateway id="clearance_ok"', '<bpmn:exclusiveGateway bogus="1" id="clearance_ok"')
    with pytest.raises(DefinitionCheckFailed, match=r"line_clearance\.bpmn:\d+, element 'clearance_ok': BPMN schema: .*bogus"):
        parse_bundle(files)


@pytest.mark.req("URS-ENG-002")
def test_sample_process_passes_every_check():
    assert problems(bundle_files("line_clearance")) == []


@pytest.mark.req("URS-ENG-002", "P11-10g")
@pytest.mark.parametrize("old,new,expected", [
    ('name="supervisor"', 'name="night shift"',
     r"line_clearance.bpmn:62, element 'review_documents': lane 'night shift' is not a configured role"),
    ('value="forms/equipment.json"', 'value="forms/missing.json"',
     "element 'check_equipment': form file 'forms/missing.json' (formJsonSchemaFilename) is not among"),
    ('name="signature.meaning" value="reviewed"/>\n        </spiffworkflow:properties>\n      </bpmn:extensionElements>\n    </bpmn:userTask>\n    <bpmn:sequenceFlow id="f_eq_join"',  # noqa: E501
     'name="signature.meaning" value="blessed"/>\n        </spiffworkflow:properties>\n      </bpmn:extensionElements>\n    </bpmn:userTask>\n    <bpmn:sequenceFlow id="f_eq_join"',  # noqa: E501
     "element 'review_documents': signature.meaning 'blessed' is not a known signature meaning"),
    ('value="four_eyes_previous"', 'value="moon_phase"', "element 'qa_approval': gate 'moon_phase' is not registered"),
    ('name="signature.verifier"', 'name="signature.verifyer"', "unknown extension property 'signature.verifyer'"),
])
def test_rule_violations_name_element_and_line(old, new, expected):
    found = problems(replace(old, new))
    assert any(expected in p for p in found), found


@pytest.mark.req("URS-ENG-002")
def test_user_task_outside_any_lane():
    found = problems(replace("<bpmn:flowNodeRef>check_equipment</bpmn:flowNodeRef>", ""))
    assert any("element 'check_equipment': user task is not in a lane" in p for p in found), found


@pytest.mark.req("URS-ENG-002")
def test_invalid_form_schema_is_reported():
    found = problems(sample(**{"forms/equipment.json": b'{"type": "objekt"}'}))
    assert any("forms/equipment.json' is not a valid JSON Schema" in p and "check_equipment" in p for p in found)
    with pytest.raises(DefinitionCheckFailed, match=r"forms/equipment.json:1: not valid JSON"):
        parse_bundle(sample(**{"forms/equipment.json": b'{"type": '}))


@pytest.mark.req("URS-ENG-002")
def test_unregistered_service_operator():
    files = replace('<bpmn:sequenceFlow id="f_split_eq" sourceRef="split" targetRef="check_equipment"/>',
                    '<bpmn:sequenceFlow id="f_split_eq" sourceRef="split" targetRef="read_scale"/>'
                    '<bpmn:serviceTask id="read_scale"><bpmn:extensionElements><spiffworkflow:serviceTaskOperator '
                    'id="scale.read"><spiffworkflow:parameters/></spiffworkflow:serviceTaskOperator>'
                    '</bpmn:extensionElements></bpmn:serviceTask>'
                    '<bpmn:sequenceFlow id="f_scale" sourceRef="read_scale" targetRef="check_equipment"/>')
    files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(
        b"<bpmn:flowNodeRef>check_equipment</bpmn:flowNodeRef>",
        b"<bpmn:flowNodeRef>check_equipment</bpmn:flowNodeRef><bpmn:flowNodeRef>read_scale</bpmn:flowNodeRef>")
    found = problems(files)
    assert any("element 'read_scale': service operator 'scale.read' is not registered" in p for p in found), found


@pytest.mark.req("URS-ENG-002")
def test_ensure_valid_raises_with_every_problem():
    with pytest.raises(DefinitionCheckFailed, match=r"3 problem\(s\).*qa_approval.*review_documents.*record_deviation"):
        ensure_valid(parse_bundle(bundle_files("line_clearance")), roles={"operator"}, meanings=MEANINGS,
                     runtime=current_runtime())


def test_thousand_element_chain_parses_from_a_small_stack_thread():
    result: list = []

    def web_request() -> None:
        try:
            result.append(parse_bundle({"chain.bpmn": chain_bpmn(1000)}))
        except BaseException as exc:  # handed to the assertion below
            result.append(exc)
    thread = threading.Thread(target=web_request)
    thread.start()
    thread.join()
    assert not isinstance(result[0], BaseException), result[0]
    assert len([t for t in result[0].spec.task_specs.values() if getattr(t, "manual", False)]) == 1000


@pytest.mark.req("URS-ENG-002")
def test_non_executable_process_is_refused():
    files = replace('isExecutable="true"', 'isExecutable="false"')
    with pytest.raises(DefinitionCheckFailed, match=r"line_clearance.bpmn:5, element 'line_clearance': process is not "
                                                    "executable"):
        parse_bundle(files)


@pytest.mark.req("URS-ENG-002")
def test_unconnected_element_is_reported():
    files = replace('<bpmn:endEvent id="end_released" name="Line released"/>',
                    '<bpmn:endEvent id="end_released" name="Line released"/><bpmn:userTask id="orphan"/>')
    found = problems(files)
    assert any("element 'orphan': element is not connected to the process flow" in p for p in found), found


@pytest.mark.req("URS-ENG-001")
@pytest.mark.parametrize("expression", ["__import__('os').system('id')", "().__class__.__base__.__subclasses__()",
                                        "line_clear.__globals__"])
def test_hostile_expressions_are_refused_at_upload_naming_the_element(expression):
    files = replace("<bpmn:conditionExpression>line_clear == True</bpmn:conditionExpression>",
                    f"<bpmn:conditionExpression>{expression}</bpmn:conditionExpression>")
    found = [p for p in problems(files) if "sandbox" in p]
    assert len(found) == 1, found
    assert "clearance_ok" in found[0] or "f_clear" in found[0]
    assert "line_clearance.bpmn:" in found[0]
