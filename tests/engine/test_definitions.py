"""Definitions under change control: drafts, second-person QA approval, pinning, history, comparison."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from engine import definitions, instances
from engine.errors import ApprovalRefused, DefinitionError, DefinitionStateError, SignatureRefused
from store.uow import UnitOfWork
from tests.engine.conftest import ALL_ROLES, actor, bundle_files, deploy, sig


def upload(db, services, files=None, reason="initial version", user="anna"):
    with UnitOfWork(db, actor(user)) as uow:
        version = definitions.upload(uow, files or bundle_files("line_clearance"), reason=reason, roles=ALL_ROLES,
                                     services=services)
        uow.commit()
    return version


def actions(db):
    with db.session() as s:
        return [a for a in s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars()]


@pytest.mark.req("URS-ENG-003", "P11-10k", "A11-10")
def test_draft_cannot_start_and_author_cannot_approve(db, services, frozen_clock):
    version = upload(db, services)
    assert version.status == "draft" and version.version == 1
    with UnitOfWork(db, actor("alice")) as uow:
        with pytest.raises(DefinitionStateError, match="no approved version: a draft cannot start instances"):
            instances.start(uow, "line_clearance")
    with pytest.raises(ApprovalRefused, match="anna uploaded this version and may not approve it"):
        with UnitOfWork(db, actor("anna")) as uow:
            definitions.approve(uow, version.id, sig("anna", "approved"), services=services)
    with pytest.raises(ApprovalRefused, match="needs role 'qa'; sam holds supervisor"):
        with UnitOfWork(db, actor("sam")) as uow:
            definitions.approve(uow, version.id, sig("sam", "approved"), services=services)
    with pytest.raises(ApprovalRefused, match="signed with meaning 'approved', not 'reviewed'"):
        with UnitOfWork(db, actor("quinn")) as uow:
            definitions.approve(uow, version.id, sig("quinn", "reviewed"), services=services)
    with pytest.raises(SignatureRefused, match="wrong password"):
        with UnitOfWork(db, actor("quinn")) as uow:
            definitions.approve(uow, version.id, sig("quinn", "approved", pw="guess"), services=services)
    assert actions(db).count("definition_version.approval_refused") == 4
    with db.session() as s:
        assert definitions.get_version(s, version.id).status == "draft"
    with UnitOfWork(db, actor("quinn")) as uow:
        approved = definitions.approve(uow, version.id, sig("quinn", "approved"), services=services)
        uow.commit()
    assert approved.status == "approved" and approved.approved_by == "quinn"
    with pytest.raises(DefinitionStateError, match="is approved; only a draft can be approved"):
        with UnitOfWork(db, actor("quentin")) as uow:
            definitions.approve(uow, version.id, sig("quentin", "approved"), services=services)


@pytest.mark.req("URS-ENG-003", "URS-ENG-004", "P11-10k", "A11-10")
def test_new_version_history_comparison_and_pinning(db, services, frozen_clock):
    deploy(db, services)
    with UnitOfWork(db, actor("alice")) as uow:
        pinned = instances.start(uow, "line_clearance").id
        uow.commit()
    files = bundle_files("line_clearance")
    text = files["line_clearance.bpmn"].decode()
    text = text.replace('name="Check equipment status"', 'name="Check equipment status and logbook"')
    text = text.replace('<spiffworkflow:property name="gates" value="four_eyes_previous"/>', "")
    text = text.replace('<bpmn:userTask id="record_deviation" name="Record deviation">',
                        '<bpmn:userTask id="record_deviation" name="Record deviation (QA)">')
    files["line_clearance.bpmn"] = text.encode()
    frozen_clock.advance(days=1)
    v2 = upload(db, services, files, reason="CC-042: name the logbook check", user="anna")
    with db.session() as s:
        diff = definitions.compare_versions(s, "line_clearance", 1, 2)
        history = definitions.history(s, "line_clearance")
    changed = {c["id"]: c["fields"] for c in diff.changed}
    assert changed["check_equipment"] == [["name", "Check equipment status", "Check equipment status and logbook"]]
    assert changed["qa_approval"] == [["property:gates", "four_eyes_previous", None]]
    assert "record_deviation" in changed and diff.added == [] and diff.removed == []
    assert [(h["version"], h["status"], h["created_by"], h["reason"]) for h in history] == [
        (1, "approved", "anna", "initial version"), (2, "draft", "anna", "CC-042: name the logbook check")]
    assert history[1]["created_at"] > history[0]["created_at"]

    with UnitOfWork(db, actor("quentin")) as uow:
        definitions.approve(uow, v2.id, sig("quentin", "approved"), services=services)
        uow.commit()
    with UnitOfWork(db, actor("alice")) as uow:
        fresh = instances.start(uow, "line_clearance").id
        uow.commit()
    with db.session() as s:
        assert instances.inspect(s, pinned)["version"] == 1
        assert instances.inspect(s, fresh)["version"] == 2
        assert [h["status"] for h in definitions.history(s, "line_clearance")] == ["superseded", "approved"]
    with UnitOfWork(db, actor("alice")) as uow:
        with pytest.raises(Exception, match="only the approved version starts instances"):
            instances.start(uow, "line_clearance", version_id=_v1(db))


def _v1(db):
    with db.session() as s:
        return definitions.find_version(s, "line_clearance", 1).id


@pytest.mark.req("URS-ENG-003")
def test_upload_needs_a_reason_and_valid_content(db, services):
    with pytest.raises(DefinitionError, match="a reason for the change is required"):
        upload(db, services, reason="  ")
    files = bundle_files("line_clearance")
    files["forms/approval.json"] = b'{"type": 5}'
    with pytest.raises(DefinitionError, match="qa_approval.*not a valid JSON Schema"):
        upload(db, services, files)
    assert actions(db) == []


@pytest.mark.req("URS-ENG-003", "URS-MD-001", "P11-10k", "A11-10")
def test_approved_versions_are_revisions_under_the_one_change_control(db, services, frozen_clock):
    """Each approved version is a revision of the process (kind process_definition) carrying the
    version's approval signature; the one in force starts instances; drafts stay the library's;
    the kind is changed only through the library."""
    from engine.definition_changes import PROCESS_DEFINITION
    from masterdata import changes
    from masterdata.errors import ChangeNotPermitted, ChangeStateError

    deploy(db, services)
    files = bundle_files("line_clearance")
    files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(b"<bpmn:definitions",
                                                                        b"<!-- v2 -->\n<bpmn:definitions", 1)
    v2 = upload(db, services, files, reason="CC-043: second issue", user="anna")
    with db.session() as s:  # a draft is not a change in force
        assert [c.revision for c in changes.history(s, PROCESS_DEFINITION, "line_clearance")] == [1]
        assert changes.effective(s, PROCESS_DEFINITION, "line_clearance").data["version"] == 1
    frozen_clock.advance(minutes=5)
    with UnitOfWork(db, actor("quentin")) as uow:
        approved = definitions.approve(uow, v2.id, sig("quentin", "approved"), services=services,
                                       reason="checked against CC-043")
        uow.commit()
    with db.session() as s:
        history = changes.history(s, PROCESS_DEFINITION, "line_clearance")
        assert [(c.revision, c.action, c.status, c.drafted_by, c.approved_by) for c in history] == [
            (1, "create", "superseded", "anna", "quinn"), (2, "change", "effective", "anna", "quentin")]
        assert history[1].signature_id == approved.approval_signature and history[1].reason == "CC-043: second issue"
        assert history[1].data["files_sha256"] == approved.files_sha256
        assert definitions.approved_version(s, "line_clearance").version == 2
        assert [d.as_list() for d in changes.compare(history[0], history[1])][0][0] == "files_sha256"
    assert "md_change.approved" in actions(db)
    with UnitOfWork(db, actor("quinn")) as uow:  # the generic change pages cannot draft a definition
        with pytest.raises(ChangeStateError, match="change through the process library"):
            changes.draft(uow, None, PROCESS_DEFINITION, "line_clearance", {"process_id": "line_clearance",
                          "name": "x", "version": 9, "files_sha256": "0" * 64}, "by hand")
    with UnitOfWork(db, actor("quinn")) as uow:  # nor record an approval its drafter signed
        with pytest.raises(ChangeNotPermitted, match="a different person must approve it"):
            changes.record_signed_approval(
                uow, PROCESS_DEFINITION, "line_clearance", {"process_id": "line_clearance", "name": "x",
                                                            "version": 9, "files_sha256": "0" * 64},
                action="change", reason="r", drafted_by="quinn", drafted_at="2026-01-01T00:00:00Z",
                signature=type("S", (), {"signature_id": "1", "signer_id": "quinn"})())


def _statuses(db):
    with db.session() as s:
        return [(h["version"], h["status"], h["effective_from"]) for h in definitions.history(s, "line_clearance")]


def _start_version(db):
    with UnitOfWork(db, actor("alice")) as uow:
        iid = instances.start(uow, "line_clearance").id
        uow.commit()
    with db.session() as s:
        return instances.inspect(s, iid)["version"]


@pytest.mark.req("URS-ENG-003", "P11-10k", "A11-10")
def test_a_version_approved_for_a_later_date_takes_over_on_that_date(db, services, frozen_clock):
    """A dated approval leaves the previous version in force until the date (on the product clock, no
    job); a date in the past or not a date is refused with words for the person, and nothing is stored."""
    from engine.definition_changes import PROCESS_DEFINITION, in_force_version_ids
    from masterdata import changes

    deploy(db, services)
    files = bundle_files("line_clearance")
    files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(b"<bpmn:definitions",
                                                                        b"<!-- v2 -->\n<bpmn:definitions", 1)
    v2 = upload(db, services, files, reason="CC-044: from the new year", user="anna")
    before = actions(db)
    for when, words in (("2026-01-04", "effective from 2026-01-04: a change cannot take effect in the past"),
                        ("next tuesday", "expected a date (2026-12-31) or a date and time")):
        with pytest.raises(DefinitionError, match=words.replace("(", r"\(").replace(")", r"\)")):
            with UnitOfWork(db, actor("quentin")) as uow:
                definitions.approve(uow, v2.id, sig("quentin", "approved"), services=services, effective_from=when)
                uow.commit()
    assert actions(db)[len(before):] == ["definition_version.approval_refused"] * 2
    with db.session() as s:
        assert definitions.get_version(s, v2.id).status == "draft"
        assert [c.revision for c in changes.history(s, PROCESS_DEFINITION, "line_clearance")] == [1]
    assert [m["record"] for m in services.sign.made] == ["line_clearance:v1"]  # nothing was signed for v2

    with UnitOfWork(db, actor("quentin")) as uow:
        definitions.approve(uow, v2.id, sig("quentin", "approved"), services=services, effective_from="2026-01-08")
        uow.commit()
    assert [(v, st) for v, st, _ in _statuses(db)] == [(1, "approved"), (2, "scheduled")]
    assert _statuses(db)[1][2].startswith("2026-01-08T00:00:00")
    assert _start_version(db) == 1
    v1 = _v1(db)
    with db.session() as s:  # what the start lists, message starts and business keys select: one per process
        assert in_force_version_ids(s) == [v1]
    frozen_clock.advance(days=2, hours=15, minutes=59)  # 2026-01-07 23:59
    assert _start_version(db) == 1
    frozen_clock.advance(minutes=1)
    assert [(v, st) for v, st, _ in _statuses(db)] == [(1, "superseded"), (2, "approved")]
    assert _start_version(db) == 2
    with db.session() as s:
        assert in_force_version_ids(s) == [v2.id]
    with UnitOfWork(db, actor("alice")) as uow:
        with pytest.raises(Exception, match="version id .* is superseded: only the approved version starts"):
            instances.start(uow, "line_clearance", version_id=_v1(db))


@pytest.mark.req("URS-ENG-003", "A11-10")
def test_a_version_cannot_take_effect_before_one_already_approved_for_a_date(db, services, frozen_clock):
    deploy(db, services)
    files = bundle_files("line_clearance")
    for n in (2, 3):
        files["line_clearance.bpmn"] = files["line_clearance.bpmn"].replace(
            b"<bpmn:definitions", f"<!-- v{n} -->\n<bpmn:definitions".encode(), 1)
        upload(db, services, dict(files), reason=f"CC-05{n}", user="anna")
    with db.session() as s:
        v2, v3 = (definitions.find_version(s, "line_clearance", n).id for n in (2, 3))
    with UnitOfWork(db, actor("quentin")) as uow:
        definitions.approve(uow, v2, sig("quentin", "approved"), services=services, effective_from="2026-02-01")
        uow.commit()
    with pytest.raises(DefinitionError, match="line_clearance:v3: .*takes effect on 2026-02-01.*cannot take effect "
                                              "before it"):
        with UnitOfWork(db, actor("quentin")) as uow:
            definitions.approve(uow, v3, sig("quentin", "approved"), services=services)
    with db.session() as s:
        assert definitions.get_version(s, v3).status == "draft"
    assert [(v, st) for v, st, _ in _statuses(db)] == [(1, "approved"), (2, "scheduled"), (3, "draft")]
