"""The change-control primitive: draft, approval by another person's signature, effective
(now or from a date), superseded, withdrawn; history, compare, audit with old/new values."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from masterdata import changes
from masterdata.changes import ChangeCatalogue, ChangeKind
from masterdata.errors import ChangeInvalid, ChangeNotPermitted, ChangeStateError, RulesInvalid, UnknownKind
from masterdata.models import ChangeRow, ChangeSetRow
from signatures import testing
from signatures.errors import AuthenticationFailed
from signatures.models import Signature
from store.uow import UnitOfWork

WIDGET = ChangeKind(
    "widget", "Widget", "部件", key_field="code",
    schema={"type": "object", "required": ["code", "name", "oeb"], "additionalProperties": False,
            "properties": {"code": {"type": "string", "pattern": "^W-[0-9]{3}$"},
                           "name": {"type": "string", "minLength": 1, "title": "Name"},
                           "oeb": {"type": "integer", "minimum": 1, "maximum": 5},
                           "storage": {"type": "object", "properties": {"min_c": {"type": "number"},
                                                                        "max_c": {"type": "number"}}}}},
    validate=lambda d: [("storage.max_c", "must be above min_c")]
    if d.get("storage") and d["storage"].get("max_c", 99) <= d["storage"].get("min_c", -99) else [],
    drafter_roles=("qa", "validation"), approver_roles=("qa",))


class People:
    def __init__(self, db: Any, settings: Any) -> None:
        self.db, self.settings = db, settings
        self.admin = testing.bootstrap_admin(db, settings)
        self.drafter = testing.enrolled_user(db, settings, self.admin, "eng.li", "Li Engineer", ["validation"])
        self.qa = testing.enrolled_user(db, settings, self.admin, "qa.wang", "Wang QA", ["qa"])
        self.qa2 = testing.enrolled_user(db, settings, self.admin, "qa.zhao", "Zhao QA", ["qa"])
        self.operator = testing.enrolled_user(db, settings, self.admin, "op.chen", "Chen Operator", ["operator"])


@pytest.fixture
def people(db, settings, frozen_clock) -> Iterator[People]:  # type: ignore[no-untyped-def]
    from signatures import kdf

    with kdf.unsafe_fast_kdf():
        found = People(db, settings)
        found.clock = frozen_clock
        yield found


@pytest.fixture
def catalogue() -> ChangeCatalogue:
    return ChangeCatalogue([WIDGET]).freeze()


def _draft(people, catalogue, person=None, key="W-001", data=None, action="change", reason="new supplier spec"):
    person = person or people.drafter
    with UnitOfWork(people.db, person.actor) as uow:
        change = changes.draft(uow, catalogue, "widget", key, data, reason, action=action, settings=people.settings)
        uow.commit()
    return change


def _approve(people, catalogue, change_id, person=None, **kw):
    person = person or people.qa
    people.clock.advance(seconds=31)  # a fresh TOTP step for every ceremony
    with UnitOfWork(people.db, person.actor) as uow:
        change = changes.approve(uow, catalogue, change_id, credentials=testing.credentials(people.db, person),
                                 settings=people.settings, reason="checked against the specification", **kw)
        uow.commit()
    return change


def _audit(db, object_type="widget"):
    with db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.object_type == object_type)
                                    .order_by(AuditEntry.seq)))


def _count(db, table=ChangeRow) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(table))


W1 = {"code": "W-001", "name": "Lactose", "oeb": 1}


@pytest.mark.req("URS-MD-020", "URS-MD-021", "URS-MD-023", "A11-10", "CN-3", "P11-10k")
def test_a_change_takes_effect_only_when_another_person_signs_it_and_the_old_revision_stays_readable(
        people, catalogue, frozen_clock):
    created = _draft(people, catalogue, data=W1, action="create", reason="new material")
    assert (created.revision, created.status, created.action) == (1, "draft", "create")
    with people.db.session() as session:
        assert changes.effective(session, "widget", "W-001") is None  # a draft is not in force
    with pytest.raises(ChangeNotPermitted, match="drafted by eng.li: a different person must approve it"):
        _approve(people, catalogue, created.id, person=people.drafter)
    with pytest.raises(ChangeNotPermitted, match=r"needs one of the roles qa; op.chen holds operator"):
        _approve(people, catalogue, created.id, person=people.operator)
    with people.db.session() as session:
        assert changes.get_change(session, created.id).status == "draft"  # the refusals changed nothing
        assert session.scalar(select(func.count()).select_from(Signature).where(
            Signature.record_type == "md_change")) == 0
    first = _approve(people, catalogue, created.id)
    assert (first.status, first.approved_by) == ("effective", "qa.wang")

    frozen_clock.advance(minutes=5)
    second = _draft(people, catalogue, data={**W1, "name": "Lactose monohydrate", "oeb": 2})
    _approve(people, catalogue, second.id, person=people.qa2)
    with people.db.session() as session:
        now = changes.effective(session, "widget", "W-001")
        assert (now.revision, now.data["name"], now.approved_by) == (2, "Lactose monohydrate", "qa.zhao")
        sig = session.get(Signature, int(now.signature_id))
        assert (sig.record_type, sig.record_id, sig.meaning, sig.signer_id) == \
            ("md_change", "widget/W-001/r2", "approved", "qa.zhao")
        hist = changes.history(session, "widget", "W-001")
        assert [(c.revision, c.status, c.drafted_by, c.approved_by) for c in hist] == \
            [(1, "superseded", "eng.li", "qa.wang"), (2, "effective", "eng.li", "qa.zhao")]
        assert hist[0].superseded_by == hist[1].id and hist[0].data["name"] == "Lactose"  # still readable
        assert [d.as_list() for d in changes.compare(hist[0], hist[1])] == \
            [["name", "Lactose", "Lactose monohydrate"], ["oeb", 1, 2]]
        # what was in force before the second approval is what a reader at that time saw
        before = changes.effective(session, "widget", "W-001", at=frozen_clock.value - timedelta(minutes=1))
        assert before.revision == 1


@pytest.mark.req("URS-MD-022", "P11-10e", "A11-9")
def test_every_step_is_audited_with_old_and_new_values(people, catalogue, frozen_clock):
    first = _draft(people, catalogue, data={**W1, "storage": {"min_c": 2, "max_c": 8}}, action="create",
                   reason="new material")
    _approve(people, catalogue, first.id)
    second = _draft(people, catalogue, data={**W1, "storage": {"min_c": 2, "max_c": 25}}, reason="room temperature")
    with UnitOfWork(people.db, people.drafter.actor) as uow:
        changes.withdraw(uow, second.id, "wrong limits", settings=people.settings)
        uow.commit()
    entries = _audit(people.db)
    actions = [(e.action, e.actor_id) for e in entries]
    assert actions == [("md_change.drafted", "eng.li"), ("md_change.approved", "qa.wang"),
                       ("md_change.effective", "system"), ("md_change.drafted", "eng.li"),
                       ("md_change.withdrawn", "eng.li")]
    drafted = entries[3]
    assert drafted.reason == "room temperature"
    assert ["storage.max_c", 8, 25] in json.loads(drafted.changes)
    assert ["status", None, "draft"] in json.loads(drafted.changes)
    approved = json.loads(entries[1].changes)
    assert ["status", "draft", "approved"] in approved and ["approved_by", None, "qa.wang"] in approved
    assert json.loads(entries[4].changes) == [["status", "draft", "withdrawn"]]


@pytest.mark.req("URS-MD-021", "A11-10")
def test_a_change_dated_later_takes_effect_on_the_product_clock_without_a_job(people, catalogue, frozen_clock):
    first = _draft(people, catalogue, data=W1, action="create", reason="new material")
    _approve(people, catalogue, first.id)
    second = _draft(people, catalogue, data={**W1, "oeb": 3}, reason="toxicology update")
    tomorrow = (frozen_clock.value + timedelta(days=1)).date().isoformat()
    approved = _approve(people, catalogue, second.id, effective_from=tomorrow)
    assert approved.status == "approved" and approved.effective_from.startswith(tomorrow)
    with people.db.session() as session:
        assert changes.effective(session, "widget", "W-001").data["oeb"] == 1  # still the old one
    frozen_clock.advance(days=1)
    with people.db.session() as session:
        assert changes.effective(session, "widget", "W-001").data["oeb"] == 3  # the date came: in force
        assert [i.data["oeb"] for i in changes.effective_items(session, "widget")] == [3]
        assert changes.get_change(session, second.id).state_at() == "effective"
    with UnitOfWork(people.db) as uow:  # the stored status follows at the next write
        assert changes.settle(uow, "widget") == 2
        uow.commit()
    with people.db.session() as session:
        assert [c.status for c in changes.history(session, "widget", "W-001")] == ["superseded", "effective"]
    third = _draft(people, catalogue, data={**W1, "oeb": 4}, reason="again")
    with pytest.raises(ChangeInvalid, match="cannot take effect in the past"):
        _approve(people, catalogue, third.id, effective_from="2020-01-01")
    with pytest.raises(ChangeInvalid, match="expected a date"):
        _approve(people, catalogue, third.id, effective_from="next tuesday")


@pytest.mark.req("URS-MD-020", "A11-10")
def test_retire_and_create_again(people, catalogue, frozen_clock):
    _approve(people, catalogue, _draft(people, catalogue, data=W1, action="create", reason="new").id)
    retire = _draft(people, catalogue, action="retire", reason="no longer used")
    assert retire.data == W1  # the retired content stays readable
    _approve(people, catalogue, retire.id)
    with people.db.session() as session:
        assert changes.effective(session, "widget", "W-001") is None
        assert changes.effective_items(session, "widget") == []
    with pytest.raises(ChangeStateError, match="does not exist \\(it is retired\\): nothing to change"):
        _draft(people, catalogue, data=W1)
    again = _draft(people, catalogue, data=W1, action="create", reason="back in use")
    assert again.revision == 3


@pytest.mark.req("URS-MD-020", "URS-MD-024")
def test_bad_drafts_are_refused_and_store_nothing(people, catalogue, frozen_clock):
    with pytest.raises(ChangeNotPermitted, match="drafting a change of widget needs one of the roles qa, validation; "
                                                 "op.chen holds operator"):
        _draft(people, catalogue, person=people.operator, data=W1, action="create")
    with pytest.raises(ChangeInvalid, match="needs a reason"):
        _draft(people, catalogue, data=W1, action="create", reason="  ")
    with pytest.raises(ChangeInvalid, match=r"Widget W-001: oeb: 7 is greater than the maximum of 5") as bad:
        _draft(people, catalogue, data={**W1, "oeb": 7}, action="create")
    assert bad.value.errors == [("oeb", "7 is greater than the maximum of 5")]
    with pytest.raises(ChangeInvalid, match="name: is required"):
        _draft(people, catalogue, data={"code": "W-001", "oeb": 1}, action="create")
    with pytest.raises(ChangeInvalid, match="storage.max_c: must be above min_c"):
        _draft(people, catalogue, data={**W1, "storage": {"min_c": 8, "max_c": 2}}, action="create")
    with pytest.raises(ChangeInvalid, match="code: must be the item's key 'W-002'"):
        _draft(people, catalogue, key="W-002", data=W1, action="create")
    with pytest.raises(ChangeInvalid, match="unknown action 'edit'"):
        _draft(people, catalogue, data=W1, action="edit")
    with pytest.raises(ChangeStateError, match="Widget W-001 does not exist: nothing to change"):
        _draft(people, catalogue, data=W1)
    with pytest.raises(UnknownKind, match="no kind of controlled data is called 'gadget'"):
        with UnitOfWork(people.db, people.drafter.actor) as uow:
            changes.draft(uow, catalogue, "gadget", "G", {}, "x")
    assert _count(people.db) == 0 and _count(people.db, ChangeSetRow) == 0
    refused = [e.action for e in _audit(people.db)]
    assert refused.count("md_change.draft_refused") == 8

    first = _draft(people, catalogue, data=W1, action="create", reason="new")
    with pytest.raises(ChangeStateError, match=r"W-001 has an open draft \(revision 1 by eng.li\)"):
        _draft(people, catalogue, person=people.qa, data={**W1, "oeb": 2})
    _approve(people, catalogue, first.id)
    with pytest.raises(ChangeStateError, match="exists already: draft a change instead"):
        _draft(people, catalogue, data=W1, action="create")
    with pytest.raises(ChangeInvalid, match="the same as revision 1: nothing to change"):
        _draft(people, catalogue, data=W1)
    with pytest.raises(ChangeStateError, match="is effective: only a draft can be approved"):
        _approve(people, catalogue, first.id, person=people.qa2)


@pytest.mark.req("URS-MD-020")
def test_withdrawal_rules(people, catalogue, frozen_clock):
    change = _draft(people, catalogue, data=W1, action="create", reason="new")
    with pytest.raises(ChangeNotPermitted, match=r"only the drafter \(eng.li\) or a person who approves"):
        with UnitOfWork(people.db, people.operator.actor) as uow:
            changes.withdraw(uow, change.id, "not needed", catalogue=catalogue, settings=people.settings)
    with pytest.raises(ChangeInvalid, match="a withdrawal needs a reason"):
        with UnitOfWork(people.db, people.qa.actor) as uow:
            changes.withdraw(uow, change.id, "", catalogue=catalogue, settings=people.settings)
    with UnitOfWork(people.db, people.qa.actor) as uow:  # an approver may withdraw someone's draft
        withdrawn = changes.withdraw(uow, change.id, "duplicate of W-002", catalogue=catalogue,
                                     settings=people.settings)
        uow.commit()
    assert (withdrawn.status, withdrawn.withdrawn_by) == ("withdrawn", "qa.wang")
    with pytest.raises(ChangeStateError, match="is withdrawn: only a draft can be approved"):
        _approve(people, catalogue, change.id)
    assert _draft(people, catalogue, data=W1, action="create", reason="again").revision == 2


@pytest.mark.req("URS-MD-020", "P11-200a1")
def test_a_wrong_password_refuses_the_approval_and_changes_nothing(people, catalogue, frozen_clock):
    change = _draft(people, catalogue, data=W1, action="create", reason="new")
    with pytest.raises(AuthenticationFailed):
        with UnitOfWork(people.db, people.qa.actor) as uow:
            creds = testing.credentials(people.db, people.qa)
            changes.approve(uow, catalogue, change.id, settings=people.settings,
                            credentials=type(creds)(creds.username, "wrong password", creds.totp))
    with people.db.session() as session:
        assert changes.get_change(session, change.id).status == "draft"
    assert "md_change.approval_refused" in [e.action for e in _audit(people.db)]
    with pytest.raises(ChangeNotPermitted, match=r"signed by the approver \(qa.zhao\) themself"):
        with UnitOfWork(people.db, people.qa2.actor) as uow:
            changes.approve(uow, catalogue, change.id, settings=people.settings,
                            credentials=testing.credentials(people.db, people.qa))


@pytest.mark.req("URS-MD-025", "URS-MD-020", "A11-10")
def test_a_change_set_is_drafted_all_or_nothing_and_approved_in_one_ceremony(people, catalogue, frozen_clock):
    rows = [("W-001", W1, "create"), ("W-002", {"code": "W-002", "name": "Starch", "oeb": 1}, "create"),
            ("W-003", {"code": "W-003", "name": "", "oeb": 1}, "create")]
    with pytest.raises(ChangeInvalid, match=r"^row 4: Widget W-003: name: '' should be non-empty") as bad:
        with UnitOfWork(people.db, people.drafter.actor) as uow:
            changes.draft_set(uow, catalogue, "widget", rows, "initial list", first_row=2, settings=people.settings)
    assert bad.value.row == 4
    with pytest.raises(ChangeInvalid, match="row 3: Widget W-001 appears already in row 2"):
        with UnitOfWork(people.db, people.drafter.actor) as uow:
            changes.draft_set(uow, catalogue, "widget", [rows[0], rows[0]], "dup", first_row=2,
                              settings=people.settings)
    assert _count(people.db) == 0
    with UnitOfWork(people.db, people.drafter.actor) as uow:
        drafted = changes.draft_set(uow, catalogue, "widget", rows[:2], "initial list", source_name="widgets.csv",
                                    settings=people.settings)
        uow.commit()
    assert [c.key for c in drafted.changes] == ["W-001", "W-002"]
    with UnitOfWork(people.db, people.qa.actor) as uow:
        done = changes.approve_set(uow, catalogue, drafted.id, credentials=testing.credentials(people.db, people.qa),
                                   settings=people.settings)
        uow.commit()
    assert {c.status for c in done.changes} == {"effective"}
    assert len({c.signature_id for c in done.changes}) == 2  # each change its own signature
    with people.db.session() as session:
        assert [r.key for r in changes.effective_items(session, "widget")] == ["W-001", "W-002"]
    with pytest.raises(ChangeStateError, match="has no draft to approve"):
        with UnitOfWork(people.db, people.qa2.actor) as uow:
            changes.approve_set(uow, catalogue, drafted.id, credentials=testing.credentials(people.db, people.qa2),
                                settings=people.settings)


@pytest.mark.req("URS-MD-024", "P11-10g")
def test_role_rules_come_from_the_instance_file(people, catalogue, settings, frozen_clock):
    (settings.instance / "change_rules.yaml").write_text(
        "kinds:\n  widget:\n    drafters: [operator]\n    approvers: [validation]\n", encoding="utf-8")
    change = _draft(people, catalogue, person=people.operator, data=W1, action="create", reason="operator may now")
    with pytest.raises(ChangeNotPermitted, match="needs one of the roles validation; qa.wang holds qa"):
        _approve(people, catalogue, change.id)
    assert _approve(people, catalogue, change.id, person=people.drafter).approved_by == "eng.li"
    (settings.instance / "change_rules.yaml").write_text("kinds:\n  widget: [qa]\n", encoding="utf-8")
    with pytest.raises(RulesInvalid, match="kind 'widget' needs 'drafters' and/or 'approvers' lists"):
        _draft(people, catalogue, data={**W1, "oeb": 2})


def test_the_catalogue_is_built_explicitly_and_frozen():
    cat = ChangeCatalogue()
    cat.register(WIDGET)
    with pytest.raises(changes.ChangeError, match="registered already"):
        cat.register(WIDGET)
    with pytest.raises(changes.ChangeError, match="lower-case letters"):
        cat.register(ChangeKind("Bad Name", "x", "x"))
    cat.freeze()
    with pytest.raises(changes.ChangeError, match="frozen"):
        cat.register(ChangeKind("other", "Other", "其他"))
    assert "widget" in cat and cat.names() == ["widget"] and cat.get(WIDGET) is WIDGET
    assert WIDGET.columns() == ("code", "name", "oeb", "storage")
    assert [d.as_list() for d in changes.compare({"a": [1, 2]}, {"a": [1], "b": {}})] == \
        [["a.2", 2, None], ["b", None, {}]]
