"""Engine test fixtures: the sample process, people with roles, a signing port.

`TestSigner` stands in for signatures.service.sign until that service exists: it checks a
per-user password and returns a SignatureRecord, so the engine's ordering of checks,
refusals and audit entries are exercised with real databases.
"""
from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any, Mapping

import pytest

from audit.canonical import Actor
from engine import definitions, persistence
from engine.errors import SignatureRefused
from engine.ports import EngineServices, SignatureInput, SignatureRecord, jsonschema_validate
from store.uow import UnitOfWork

PROCESSES = Path(__file__).parent / "processes"
ROLES = {"alice": {"operator"}, "bob": {"operator"}, "sam": {"supervisor"}, "quinn": {"qa"}, "quentin": {"qa"},
         "anna": {"author"}, "olga": {"operator", "qa"}}
NAMES = {"alice": "Alice Operator", "bob": "Bob Verifier", "sam": "Sam Supervisor", "quinn": "Quinn QA",
         "quentin": "Quentin QA", "anna": "Anna Author", "olga": "Olga Operator-QA"}
ALL_ROLES = {"operator", "supervisor", "qa", "author"}
MEANINGS = frozenset({"performed", "verified", "reviewed", "approved", "released"})


def actor(user_id: str) -> Actor:
    return Actor(user_id, NAMES[user_id])


def password(user_id: str) -> str:
    return f"pw-{user_id}"


class TestSigner:
    __test__ = False

    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.made: list[dict[str, Any]] = []

    def __call__(self, uow: Any, *, signer_id: str, meaning: str, record_type: str, record_id: str,
                 record_hash: str, content: Mapping[str, Any], credentials: Mapping[str, str]) -> SignatureRecord:
        if credentials.get("password") != password(signer_id):
            raise SignatureRefused(f"wrong password for {signer_id}")
        sid = f"sig-{next(self.counter)}-{hashlib.sha256(record_hash.encode()).hexdigest()[:8]}"
        self.made.append({"id": sid, "signer": signer_id, "meaning": meaning, "record": record_id})
        uow.audit("signature.applied", record_type, record_id, details={"signature_id": sid, "meaning": meaning,
                                                                         "record_hash": record_hash},
                  actor=actor(signer_id))
        return SignatureRecord(sid, signer_id, NAMES[signer_id], meaning)


@pytest.fixture
def services() -> EngineServices:
    return EngineServices(roles_of=lambda uow, user: ROLES.get(user, set()), sign=TestSigner(),
                          validate_form=jsonschema_validate, meanings=MEANINGS)


@pytest.fixture(autouse=True)
def _cold_cache():
    persistence.CACHE.clear()
    yield
    persistence.CACHE.clear()


def sig(user: str, meaning: str, pw: str | None = None) -> SignatureInput:
    return SignatureInput(meaning=meaning, signer_id=user, credentials={"password": pw or password(user)})


def bundle_files(name: str) -> dict[str, bytes]:
    root = PROCESSES / name
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def deploy(db: Any, services: EngineServices, name: str = "line_clearance",
           files: dict[str, bytes] | None = None, reason: str = "initial version") -> int:
    """Upload as anna, approve as quinn; return the version id."""
    with UnitOfWork(db, actor("anna")) as uow:
        version = definitions.upload(uow, files or bundle_files(name), reason=reason, roles=ALL_ROLES,
                                     services=services)
        uow.commit()
    with UnitOfWork(db, actor("quinn")) as uow:
        definitions.approve(uow, version.id, sig("quinn", "approved"), services=services)
        uow.commit()
    return version.id


def chain_bpmn(n: int, process_id: str = "chain", lane: str = "operator") -> bytes:
    """A linear process of n user tasks in one lane."""
    refs = "".join(f"<bpmn:flowNodeRef>t{i}</bpmn:flowNodeRef>" for i in range(n))
    parts = ['<?xml version="1.0" encoding="UTF-8"?>'
             '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" '
             f'targetNamespace="x"><bpmn:process id="{process_id}" isExecutable="true">'
             f'<bpmn:laneSet id="ls"><bpmn:lane id="l" name="{lane}">{refs}</bpmn:lane></bpmn:laneSet>'
             '<bpmn:startEvent id="s"/>']
    prev = "s"
    for i in range(n):
        parts.append(f'<bpmn:userTask id="t{i}" name="Step {i}"/>'
                     f'<bpmn:sequenceFlow id="f{i}" sourceRef="{prev}" targetRef="t{i}"/>')
        prev = f"t{i}"
    parts.append(f'<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="fe" sourceRef="{prev}" targetRef="e"/>'
                 '</bpmn:process></bpmn:definitions>')
    return "".join(parts).encode()
