"""Demo data of the special-work permit, for `make run` (called by bpmn.demo.seed).

The EHS SOPs in the document register; Tom Technician qualified for hot work, confined-space
entry and lockout-tagout; Carl Contractor (role `contractor`, account ending in 90 days)
trained on the permit system and hot work but NOT inducted (SOP-EHS-010): a request naming him
is refused until his induction is recorded. The `work_permit` process approved, one permit
waiting for Rose Requester. The simulated plant starts with every breaker closed and valve
open (energised): the isolation authority switches them off with `gmp plant set` before the
states are read.

Walkthrough (README "Demo"): rose requests (hot work at V-101, crew tom; adding carl is
refused), owen confirms the hot-work checklist, ivan lists ISO-BRK-02.closed and
ISO-VLV-02.open with lock numbers (read energised: the task comes back until the points are
off), ella tests the gas (GAS-01), owen approves, ella issues, tom works, ivan removes the
locks (read back restored), rose and owen sign the hand-back. /permits/ shows each permit.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from audit.canonical import Actor
from core import clock
from core.config import Settings
from store.db import Database
from store.uow import UnitOfWork

SOPS = {"SOP-EHS-001": ("Permit-to-work system", "作业许可制度"),
        "SOP-EHS-002": ("Hot work", "动火作业"),
        "SOP-EHS-003": ("Confined-space entry", "受限空间作业"),
        "SOP-EHS-004": ("Work at height", "高处作业"),
        "SOP-EHS-005": ("Lockout-tagout", "上锁挂牌"),
        "SOP-EHS-006": ("Temporary electrical work", "临时用电作业"),
        "SOP-EHS-010": ("Contractor site induction", "承包商入厂培训")}
CONTRACTOR = ("carl", "Carl Contractor")


def seed(db: Database, settings: Settings, credentials: Callable[[str], Any], runtime: Any) -> None:
    """`credentials(user_id)`: the components of one ceremony (bpmn.demo)."""
    from bpmn.work_permit import PROCESS_KEY, diagram_files
    from engine import definitions, instances
    from engine.ports import SignatureInput
    from masterdata import changes, qualifications
    from masterdata.changes import ChangeCatalogue
    from masterdata.kinds import register_kinds
    from signatures.identities import create_user, verify_identity
    from signatures.models import Role
    from signatures.roles import add_role

    quinn, rita, admin = Actor("quinn", "Quinn QA"), Actor("rita", "Rita Reviewer"), Actor("admin", "Ada Admin")
    today = clock.now().date()
    catalogue = register_kinds(ChangeCatalogue()).freeze()
    with UnitOfWork(db, quinn) as uow:
        found = changes.draft_set(uow, catalogue, "document", [
            (code, {"code": code, "title": en, "title_zh": zh, "type": "sop", "version": 1,
                    "effective_date": (today - timedelta(days=200)).isoformat()}, "create")
            for code, (en, zh) in SOPS.items()], "demo plant: EHS procedures for permits", settings=settings)
        uow.commit()
    creds = credentials("rita")
    with UnitOfWork(db, rita) as uow:
        changes.approve_set(uow, catalogue, found.id, credentials=creds, settings=settings,
                            reason="EHS procedures checked")
        uow.commit()
    with UnitOfWork(db, admin) as uow:
        if uow.session.get(Role, "contractor") is None:
            add_role(uow, "contractor", "business", "Contractor", "承包商", "Works on site for a contractor company",
                     reason="contractors work under permits")
        create_user(uow, CONTRACTOR[0], CONTRACTOR[1], ["contractor", "technician"], settings,
                    expires_on=today + timedelta(days=90), reason="contract ACME-2026-17")
        uow.commit()
    with UnitOfWork(db, admin) as uow:
        verify_identity(uow, CONTRACTOR[0], "passport checked at the gate", "contractor registration")
        uow.commit()
    grants = [("tom", "SOP-EHS-001"), ("tom", "SOP-EHS-002"), ("tom", "SOP-EHS-003"), ("tom", "SOP-EHS-005"),
              ("carl", "SOP-EHS-001"), ("carl", "SOP-EHS-002")]  # carl: no contractor induction (SOP-EHS-010)
    for user, sop in grants:
        creds = credentials("quinn")
        with UnitOfWork(db, quinn) as uow:
            qualifications.grant_qualification(uow, user, sop, 1, basis="demo: trained and assessed",
                                               granted_on=(today - timedelta(days=30)).isoformat(),
                                               credentials=creds, settings=settings)
            uow.commit()
    with UnitOfWork(db, quinn) as uow:
        version = definitions.upload(uow, diagram_files(), reason="demo process work_permit", runtime=runtime)
        uow.commit()
        version_id = version.id
    creds = credentials("rita")
    with UnitOfWork(db, rita) as uow:
        definitions.approve(uow, version_id, SignatureInput.of("approved", creds), settings=settings,
                            reason="demo process reviewed", runtime=runtime)
        uow.commit()
    with UnitOfWork(db, Actor("rose", "Rose Requester")) as uow:
        instances.start(uow, PROCESS_KEY, title="Hot work at V-101", settings=settings, runtime=runtime)
        uow.commit()
