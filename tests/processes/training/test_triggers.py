"""What starts a training: a role granted or a new account (the runtime's role hook, called by the
administration pages), an effective document version and a CAPA action (the contract's starts,
linked started_by), and the requalification timer before a qualification lapses; an expired
qualification is refused at claim."""
from __future__ import annotations

import pytest

from core import clock
from engine import instances, links, tasks
from engine.errors import GateRefused
from masterdata import checks
from store.uow import UnitOfWork


def _trainings(site):  # type: ignore[no-untyped-def]
    with site.db.session() as session:
        return [i for i in instances.list_instances(session, key="training")]


def _grant_role(site, user, role):  # type: ignore[no-untyped-def]
    from signatures import identities

    with UnitOfWork(site.db, site.admin.actor) as uow:
        identities.grant_role(uow, user, role, "moved to granulation")
        started = site.runtime.roles_granted(uow, user, [role], "role_granted", settings=site.settings)
        uow.commit()
    return started["training"]


def _qualify(site, trn, user="alice", months=12):  # type: ignore[no-untyped-def]
    while site.ready(trn) != ["approve"]:
        step = site.ready(trn)[0]
        if step == "study":
            site.study(trn, user)
        elif step == "exam":
            site.take_exam(trn, user=user)
        elif step == "practical":
            site.complete(trn, "practical", "tess", {"assessment": "competent", "observations": "ok"}, ("assessed",))
    site.complete(trn, "approve", "cora", {"validity_months": months}, ("approved",))


@pytest.mark.req("URS-TRN-005", "P11-10i", "A11-12", "CN-2")
def test_a_role_granted_starts_the_training_the_matrix_requires_once(site):
    trn = _grant_role(site, "sam", "operator")
    assert trn is not None
    data = site.data(trn)
    assert data["curriculum"]["trigger"] == "role_granted" and data["curriculum"]["role"] == "operator"
    # sam (supervisor) gets the operator SOPs he is not qualified on
    assert [d["code"] for d in data["curriculum"]["documents"]] == ["SOP-PRD-012", "SOP-GMP-001"]
    assert (trn, "study") in site.inbox("sam")
    # a second grant while the training runs starts nothing more
    with UnitOfWork(site.db, site.admin.actor) as uow:
        assert site.runtime.roles_granted(uow, "sam", ["operator"], "role_granted") == {"training": None}
    assert len(_trainings(site)) == 1


@pytest.mark.req("URS-TRN-005", "P11-10i", "A11-12")
def test_a_new_account_starts_training_only_for_what_its_holder_is_not_qualified_on(site):
    first = _grant_role(site, "bob", "supervisor")  # bob: operator -> also supervisor: SOP-GMP-001
    assert [d["code"] for d in site.data(first)["curriculum"]["documents"]] == ["SOP-GMP-001"]
    site.study(first, "bob")
    site.complete(first, "approve", "cora", {"validity_months": 12}, ("approved",))
    with UnitOfWork(site.db, site.admin.actor) as uow:  # qualified now: nothing to start
        assert site.runtime.roles_granted(uow, "bob", ["supervisor"], "new_user") == {"training": None}
    with UnitOfWork(site.db, site.admin.actor) as uow:  # no matrix entry for the role: nothing either
        assert site.runtime.roles_granted(uow, "bob", ["qp"], "role_granted") == {"training": None}


@pytest.mark.req("URS-TRN-005", "P11-10i")
def test_roles_granted_before_the_training_process_is_approved_start_nothing(db, settings, frozen_clock, runtime):
    from bpmn.glue import extend
    from signatures import kdf, testing

    extend(runtime, db, settings)
    with kdf.unsafe_fast_kdf():
        admin = testing.bootstrap_admin(db, settings)
        testing.enrolled_user(db, settings, admin, "alice", "Alice Operator", ["operator"])
    with UnitOfWork(db, admin.actor) as uow:
        assert runtime.roles_granted(uow, "alice", ["operator"], "role_granted") == {"training": None}


def _linked_start(site, data, user="quinn"):  # type: ignore[no-untyped-def]
    """Start `training` from another instance the way the contract's operators do."""
    from engine.messages import DbOperatorActions

    with UnitOfWork(site.db, site[user].actor) as uow:
        source = instances.start(uow, "training", data={"training": {"trainee": "bob", "documents": [
            {"code": "SOP-GMP-001"}], "trigger": "manual"}}, settings=site.settings)
        actions = DbOperatorActions(uow, source.id, "action", site.settings, runtime=site.runtime)
        started = int(actions.start_linked_process("training", data, "started_by"))
        uow.commit()
    return source.id, started


@pytest.mark.req("URS-TRN-005", "P11-10i", "A11-13")
def test_an_effective_document_version_starts_training_with_the_contract_data(site):
    source, trn = _linked_start(site, {"training": {"trainee": "alice", "documents": [
        {"code": "SOP-PRD-012", "version": 5}], "trigger": "document_effective"}}, user="rita")
    curriculum = site.data(trn)["curriculum"]
    assert (curriculum["trigger"], [(d["code"], d["version"]) for d in curriculum["documents"]]) == (
        "document_effective", [("SOP-PRD-012", 5)])
    with site.db.session() as session:
        found = links.related(session, trn, relation="started_by")
        assert [r.instance_id for r in found] == [source]
    assert site.ready(trn) == ["study"] and (trn, "study") in site.inbox("alice")


@pytest.mark.req("URS-TRN-005", "P11-10i", "A11-13")
def test_a_capa_action_starts_a_retraining_linked_to_it(site):
    source, trn = _linked_start(site, {"training": {"trainee": "alice", "documents": [
        {"code": "SOP-PRD-012", "version": 5}], "trigger": "capa", "reason": "DEV-2026-0007: speed exceeded",
        "capa": "DEV-2026-0007"}})
    curriculum = site.data(trn)["curriculum"]
    assert (curriculum["trigger"], curriculum["capa"], curriculum["reason"]) == (
        "capa", "DEV-2026-0007", "DEV-2026-0007: speed exceeded")
    with site.db.session() as session:
        assert [r.instance_id for r in links.related(session, source, relation="started")] == [trn]


@pytest.mark.req("URS-TRN-002", "URS-TRN-005", "P11-10i", "A11-12")
def test_expiry_starts_requalification_and_a_lapsed_qualification_is_refused_at_claim(site, frozen_clock):
    _deploy_gated(site)
    trn = site.start({"trainee": "alice", "documents": [{"code": "SOP-GMP-001"}], "trigger": "manual"})
    _qualify(site, trn, months=2)
    granted = site.data(trn)["granted"]
    with site.db.session() as session:
        assert checks.training_problems(session, "alice", ["SOP-GMP-001"]) == []
    # the requalification timer: 30 days before the validity ends
    from dateutil.relativedelta import relativedelta

    from engine.scheduler import Scheduler

    until = clock.now().date() + relativedelta(months=2)
    assert granted["valid_until"] == until.isoformat()
    frozen_clock.advance(days=(until - clock.now().date()).days - 32)
    Scheduler(site.db, site.settings, runtime=site.runtime).run_once()
    assert site.status(trn) == "running"  # not due yet
    frozen_clock.advance(days=3)
    Scheduler(site.db, site.settings, runtime=site.runtime).run_once()
    assert site.status(trn) == "completed"
    with site.db.session() as session:
        requal = [r.instance_id for r in links.related(session, trn, relation="started")]
    assert len(requal) == 1
    curriculum = site.data(requal[0])["curriculum"]
    assert (curriculum["trigger"], [d["code"] for d in curriculum["documents"]]) == ("requalification",
                                                                                     ["SOP-GMP-001"])
    # the qualification lapses: the gate closes; a task needing it is refused at claim
    frozen_clock.advance(days=31)
    with site.db.session() as session:
        problems = checks.training_problems(session, "alice", ["SOP-GMP-001"])
        assert [(p.code, p.params["until"]) for p in problems] == [("expired", granted["valid_until"])]
    with UnitOfWork(site.db, site["sam"].actor) as uow:
        gated = instances.start(uow, "gmp_step", data={}, settings=site.settings).id
        uow.commit()
    with UnitOfWork(site.db, site["alice"].actor) as uow:
        task = site.task_id(gated, "step")
        with pytest.raises(GateRefused, match=f"Alice Operator's qualification on SOP-GMP-001 v2 expired on "
                                              f"{granted['valid_until']}"):
            tasks.claim(uow, task, services=site.services)
    # the requalification qualifies her again
    _qualify(site, requal[0])
    with UnitOfWork(site.db, site["alice"].actor) as uow:
        assert tasks.claim(uow, site.task_id(gated, "step"), services=site.services).claimed_by == "alice"
        uow.commit()


GATED = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="http://gmp.example/bpmn">
  <bpmn:process id="gmp_step" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="operator"><bpmn:flowNodeRef>step</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="step"/>
    <bpmn:userTask id="step" name="Work per SOP-GMP-001"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="qualification.sops" value="SOP-GMP-001"/></spiffworkflow:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _deploy_gated(site):  # type: ignore[no-untyped-def]
    from engine import definitions

    with UnitOfWork(site.db, site["quinn"].actor) as uow:
        version = definitions.upload(uow, {"gmp_step.bpmn": GATED}, reason="a gated step", services=site.services)
        uow.commit()
        version_id = version.id
    signature = site.sign("rita", "approved")
    with UnitOfWork(site.db, site["rita"].actor) as uow:
        definitions.approve(uow, version_id, signature, services=site.services)
        uow.commit()


@pytest.mark.req("URS-TRN-005", "P11-10i", "A11-12", "CN-2")
def test_the_administration_page_starts_the_training_of_a_granted_role_in_the_same_unit_of_work(site):
    from app import create_app
    from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
    from tests.web.test_access_matrix import open_session

    app = create_app({"instance_path": site.settings.instance_path, "database_url": site.settings.database_url,
                      "secret_key": TEST_SECRET, "server_key_passphrase": TEST_PASSPHRASE}, runtime=site.runtime)
    app.config["TESTING"] = True
    try:
        client = app.test_client()
        open_session(site.db, client, site.admin)
        done = client.post("/admin/users/sam/grant", data={"csrf_token": "walk-token", "role": "operator",
                                                           "reason": "moved to granulation"})
        assert done.status_code == 302
        page = client.get("/admin/users").get_data(as_text=True)
        assert "Training started for sam" in page
        created = client.post("/admin/users", data={"csrf_token": "walk-token", "user_id": "nina",
                                                    "printed_name": "Nina New", "roles": "operator"})
        assert created.status_code == 200
    finally:
        app.extensions["gmp.db"].dispose()
    found = {site.data(i["id"])["curriculum"]["trainee"]: site.data(i["id"])["curriculum"]["trigger"]
             for i in _trainings(site)}
    assert found == {"sam": "role_granted", "nina": "new_user"}
