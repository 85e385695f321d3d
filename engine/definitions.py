"""Process definitions under change control (P11-10k, A11-10).

A definition (process key) has numbered versions. A version is a `draft` when uploaded;
a QA user other than its author approves it with an electronic signature (meaning
`approved`) and it becomes `approved`, in force at once or from a later date the approver
chooses (until then it is `scheduled` and the previous version stays in force); when a
newer version takes effect the previous one is `superseded` (its running instances continue
on it), computed from the dates on the product clock, without a job. Only the version in
force starts instances (and is what a call activity runs when it is reached), and an instance stays pinned to the version it started on.
Every version records who uploaded it, when and why; two versions can be compared
element by element. The serialized spec is stored once per version.

Approved versions are revisions of the process under the one change-control primitive
(engine.definition_changes, masterdata.changes kind `process_definition`): the approval's
signature is the change's, and the version in force is the primitive's answer.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock
from core.errors import GmpError
from engine.checks import ensure_valid
from engine.definition_changes import (
    approval_moment,
    record_approval,
    version_in_force,
    version_states,
)
from engine.errors import ApprovalRefused, DefinitionError, DefinitionNotFound, DefinitionStateError
from engine.models import ProcessDefinition, ProcessDefinitionVersion
from engine.parsing import ParsedBundle, parse_bundle
from engine.ports import EngineServices, SignatureInput, default_services
from engine.runtime import EngineRuntime, resolve
from engine.spiff.serializer import cached_spec, spec_to_json

APPROVER_ROLE = "qa"
APPROVAL_MEANING = "approved"
MAX_REASON = 2000


class VersionStatus(str, enum.Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # passed the full checks and waits for a second QA user's approval
    APPROVED = "approved"
    SCHEDULED = "scheduled"  # approved to take effect on a later date (computed on read, never stored)
    SUPERSEDED = "superseded"


APPROVABLE = (VersionStatus.DRAFT.value, VersionStatus.SUBMITTED.value)


def files_digest(files: Mapping[str, bytes]) -> str:
    """SHA-256 over the sorted (name, SHA-256(content)) pairs: what an approval signs."""
    h = hashlib.sha256(b"GMP-PROCESS-DEFINITION-v1\x00")
    for name in sorted(files):
        h.update(name.encode() + b"\x00" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def configured_roles(session: Session) -> set[str]:
    """Role names from the signatures role catalogue (empty set if it is not installed)."""
    try:
        from signatures.roles import list_roles  # type: ignore[import-not-found]
    except ModuleNotFoundError:
        return set()
    return {r.name for r in list_roles(session)}


def callable_process(session: Session) -> Any:
    """The upload check of a call activity naming a process outside its files: the
    definition must exist and have an approved version; None if so, else why not."""
    def check(process_id: str) -> str | None:
        definition = session.execute(select(ProcessDefinition).where(ProcessDefinition.key == process_id)
                                     ).scalar_one_or_none()
        if definition is None:
            return "no process definition has that id"
        if version_in_force(session, process_id) is None:
            return "the definition has no approved version"
        return None
    return check


def validate_upload(files: Mapping[str, bytes], *, roles: Collection[str], services: EngineServices,
                    process_id: str | None = None, runtime: EngineRuntime | None = None,
                    session: Session | None = None) -> ParsedBundle:
    """Parse and check without storing anything (the `--check` of the CLI, the editor's validate).

    The gates, task properties and operators a definition may use are those of the
    runtime (`runtime=`, else the current one). With `session`, call activities naming a
    process outside the files are checked against the stored definitions.
    """
    runtime = resolve(runtime)
    bundle = parse_bundle(files, process_id, max_source_chars=runtime.sandbox.max_source_chars)
    ensure_valid(bundle, roles=roles, meanings=services.meanings, runtime=runtime,
                 called=callable_process(session) if session is not None else None)
    return bundle


def upload(uow: Any, files: Mapping[str, bytes], *, reason: str, process_id: str | None = None,
           roles: Collection[str] | None = None, services: EngineServices | None = None,
           runtime: EngineRuntime | None = None) -> ProcessDefinitionVersion:
    """Store a checked upload as the next draft version of its process (creating the definition)."""
    services = services or default_services()
    reason = check_reason(reason)
    session: Session = uow.session
    if roles is None:
        roles = configured_roles(session)
    bundle = validate_upload(files, roles=roles, services=services, process_id=process_id, runtime=runtime,
                             session=session)
    return store_draft(uow, bundle.files, process_id=bundle.process_id, process_name=bundle.process_name,
                       spec_json=spec_to_json(bundle.spec, bundle.subprocess_specs), elements=bundle.elements,
                       reason=reason)


def check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DefinitionError("a reason for the change is required")
    if len(reason) > MAX_REASON:
        raise DefinitionError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def store_draft(uow: Any, files: Mapping[str, bytes], *, process_id: str, process_name: str, spec_json: str,
                elements: Mapping[str, Any], reason: str, details: Mapping[str, Any] | None = None
                ) -> ProcessDefinitionVersion:
    """Store files as the next draft version of `process_id` (creating the definition); audited.

    `spec_json` is empty for an imported draft SpiffWorkflow cannot read yet (engine.drafts); it is
    filled in when the draft passes the full checks at approval."""
    session: Session = uow.session
    now = clock.isoformat(clock.now())
    actor = uow.actor.user_id
    definition = session.execute(select(ProcessDefinition).where(ProcessDefinition.key == process_id)
                                 ).scalar_one_or_none()
    if definition is None:
        definition = ProcessDefinition(key=process_id, name=(process_name or process_id)[:200], created_at=now,
                                       created_by=actor)
        session.add(definition)
        session.flush()
        uow.audit("definition.created", "process_definition", definition.key,
                  changes=[["key", None, definition.key], ["name", None, definition.name]], reason=reason)
    number = (session.execute(select(func.max(ProcessDefinitionVersion.version))
                              .where(ProcessDefinitionVersion.definition_id == definition.id)).scalar() or 0) + 1
    digest = files_digest(files)
    version = ProcessDefinitionVersion(
        definition_id=definition.id, version=number, status=VersionStatus.DRAFT.value, change_reason=reason,
        files_json=json.dumps({k: v.decode("utf-8") for k, v in sorted(files.items())}, sort_keys=True),
        files_sha256=digest, spec_json=spec_json,
        elements_json=json.dumps({k: e.as_dict() for k, e in sorted(elements.items())}, sort_keys=True),
        created_at=now, created_by=actor)
    session.add(version)
    session.flush()
    previous = _previous_version(session, definition.id, number)
    diff = compare(previous, version) if previous is not None else None
    uow.audit("definition_version.created", "process_definition_version", f"{definition.key}:v{number}",
              changes=[["status", None, VersionStatus.DRAFT.value], ["files_sha256", None, digest]],
              reason=reason, details={"files": sorted(files), "compared_with":
                                      previous.version if previous is not None else None,
                                      "diff": diff.as_dict() if diff else None, **(details or {})})
    return version


def _previous_version(session: Session, definition_id: int, number: int) -> ProcessDefinitionVersion | None:
    return session.execute(select(ProcessDefinitionVersion).where(
        ProcessDefinitionVersion.definition_id == definition_id, ProcessDefinitionVersion.version < number)
        .order_by(ProcessDefinitionVersion.version.desc()).limit(1)).scalar_one_or_none()


def full_check(session: Session, version: ProcessDefinitionVersion, *, services: EngineServices,
               roles: Collection[str] | None = None, runtime: EngineRuntime | None = None) -> ParsedBundle:
    """Every check of an upload, on a stored version, against the roles, gates and operators in
    effect now (an imported draft may have been stored with problems)."""
    definition = session.get(ProcessDefinition, version.definition_id)
    return validate_upload(version_files(version), roles=configured_roles(session) if roles is None else roles,
                           services=services, process_id=definition.key, runtime=runtime, session=session)


def submit(uow: Any, version_id: int, *, services: EngineServices | None = None,
           roles: Collection[str] | None = None, runtime: EngineRuntime | None = None) -> ProcessDefinitionVersion:
    """A draft that passes the full checks waits for approval (`DefinitionCheckFailed` lists what does not)."""
    services = services or default_services()
    session: Session = uow.session
    version = get_version(session, version_id, for_update=True)
    definition = session.get(ProcessDefinition, version.definition_id)
    label = f"{definition.key}:v{version.version}"
    try:
        if version.status != VersionStatus.DRAFT.value:
            raise DefinitionStateError(f"{label} is {version.status}; only a draft can be submitted for approval")
        full_check(session, version, services=services, roles=roles, runtime=runtime)
    except (DefinitionError, DefinitionStateError) as exc:
        uow.record_refusal("definition_version.submission_refused", "process_definition_version", label,
                           reason=str(exc))
        raise
    version.status = VersionStatus.SUBMITTED.value
    session.flush()
    uow.audit("definition_version.submitted", "process_definition_version", label,
              changes=[["status", VersionStatus.DRAFT.value, VersionStatus.SUBMITTED.value]])
    return version


def approve(uow: Any, version_id: int, signature: SignatureInput, *, services: EngineServices | None = None,
            reason: str | None = None, settings: Any = None, roles: Collection[str] | None = None,
            runtime: EngineRuntime | None = None, effective_from: Any = None) -> ProcessDefinitionVersion:
    """Approve a draft: a QA user other than the author signs it with meaning 'approved'.

    The draft must pass the full checks first (`full_check`). Without `services`,
    `default_services(settings)` is used (signing needs `settings`). `effective_from` (a date,
    "2027-01-15", or a date and time): the version takes effect then, not at once; a date in
    the past, not a date, or before a version already approved to take effect is refused
    before anything is signed.
    """
    services = services or default_services(settings)
    session: Session = uow.session
    version = get_version(session, version_id, for_update=True)
    definition = session.get(ProcessDefinition, version.definition_id)
    label = f"{definition.key}:v{version.version}"
    try:
        if version.status not in APPROVABLE:
            raise DefinitionStateError(f"{label} is {version.status}; only a draft can be approved")
        bundle = full_check(session, version, services=services, roles=roles, runtime=runtime)
        approver = uow.actor.user_id
        if signature.signer_id != approver:
            raise ApprovalRefused(f"{label}: the approval must be signed by the approver ({approver}) themself")
        if signature.meaning != APPROVAL_MEANING:
            raise ApprovalRefused(f"{label}: an approval is signed with meaning '{APPROVAL_MEANING}', "
                                  f"not '{signature.meaning}'")
        if approver == version.created_by:
            raise ApprovalRefused(f"{label}: {approver} uploaded this version and may not approve it "
                                  "(a second person must)")
        roles = set(services.roles_of(uow, approver))
        if APPROVER_ROLE not in roles:
            raise ApprovalRefused(f"{label}: approving process definitions needs role '{APPROVER_ROLE}'; "
                                  f"{approver} holds {', '.join(sorted(roles)) or 'no role'}")
        moment = _approval_moment(session, definition.key, label, effective_from)
        record = services.sign(uow, signer_id=approver, meaning=APPROVAL_MEANING,
                               record_type="process_definition_version", record_id=label,
                               record_hash=version.files_sha256,
                               content={"process": definition.key, "version": version.version,
                                        "files_sha256": version.files_sha256},
                               credentials=signature.credentials)
    except (DefinitionStateError, ApprovalRefused, DefinitionError) as exc:
        uow.record_refusal("definition_version.approval_refused", "process_definition_version", label,
                           reason=str(exc))
        raise
    except GmpError as exc:  # the signatures service's refusal (it records its own entry too)
        uow.record_refusal("definition_version.approval_refused", "process_definition_version", label,
                           reason=str(exc))
        raise
    record_approval(uow, process_id=definition.key, name=definition.name, version=version.version,
                    files_sha256=version.files_sha256, reason=version.change_reason, drafted_by=version.created_by,
                    drafted_at=version.created_at, signature=record, approval_reason=reason,
                    effective_from=moment)
    now = clock.isoformat(clock.now())
    states = version_states(session, definition.key)
    for old in session.execute(select(ProcessDefinitionVersion).where(
            ProcessDefinitionVersion.definition_id == version.definition_id,
            ProcessDefinitionVersion.id != version.id,
            ProcessDefinitionVersion.status == VersionStatus.APPROVED.value)).scalars():
        if states.get(old.version, ("superseded",))[0] != VersionStatus.SUPERSEDED.value:
            continue  # still in force until the new version's date (its state follows the dates)
        old.status = VersionStatus.SUPERSEDED.value
        uow.audit("definition_version.superseded", "process_definition_version", f"{definition.key}:v{old.version}",
                  changes=[["status", VersionStatus.APPROVED.value, VersionStatus.SUPERSEDED.value]],
                  reason=f"superseded by v{version.version}")
    if not version.spec_json:  # an imported draft stored before SpiffWorkflow could read it
        version.spec_json = spec_to_json(bundle.spec, bundle.subprocess_specs)
    previous_status = version.status
    version.status = VersionStatus.APPROVED.value
    version.approved_at = now
    version.approved_by = uow.actor.user_id
    version.approval_signature = record.signature_id
    session.flush()
    uow.audit("definition_version.approved", "process_definition_version", label,
              changes=[["status", previous_status, VersionStatus.APPROVED.value],
                       ["approved_by", None, version.approved_by]],
              reason=reason, details={"signature_id": record.signature_id, "files_sha256": version.files_sha256,
                                      "effective_from": moment if moment > now else None})
    return version


def _approval_moment(session: Session, key: str, label: str, effective_from: Any) -> str:
    from masterdata.errors import ChangeError

    try:
        return approval_moment(session, key, effective_from)
    except ChangeError as exc:
        raise DefinitionError(f"{label}: {exc}") from None


# ---------------------------------------------------------------- queries
def get_definition(session: Session, key: str) -> ProcessDefinition:
    definition = session.execute(select(ProcessDefinition).where(ProcessDefinition.key == key)).scalar_one_or_none()
    if definition is None:
        raise DefinitionNotFound(f"no process definition '{key}'")
    return definition


def get_version(session: Session, version_id: int, *, for_update: bool = False) -> ProcessDefinitionVersion:
    stmt = select(ProcessDefinitionVersion).where(ProcessDefinitionVersion.id == version_id)
    if for_update:
        stmt = stmt.with_for_update()
    version = session.execute(stmt).scalar_one_or_none()
    if version is None:
        raise DefinitionNotFound(f"no process definition version with id {version_id}")
    return version


def find_version(session: Session, key: str, number: int) -> ProcessDefinitionVersion:
    definition = get_definition(session, key)
    version = session.execute(select(ProcessDefinitionVersion).where(
        ProcessDefinitionVersion.definition_id == definition.id, ProcessDefinitionVersion.version == number)
    ).scalar_one_or_none()
    if version is None:
        raise DefinitionNotFound(f"process '{key}' has no version {number}")
    return version


def approved_version(session: Session, key: str) -> ProcessDefinitionVersion:
    """The version in force (change control: engine.definition_changes), which starts instances."""
    definition = get_definition(session, key)
    number = version_in_force(session, key)
    version = None if number is None else session.execute(select(ProcessDefinitionVersion).where(
        ProcessDefinitionVersion.definition_id == definition.id,
        ProcessDefinitionVersion.version == number)).scalar_one_or_none()
    if version is None:
        raise DefinitionStateError(f"process '{key}' has no approved version: a draft cannot start instances")
    return version


def resolve_called_process(session: Session, process_id: str) -> tuple[int, Any, dict[str, Any]]:
    """The approved version of `process_id` now: (version id, spec, subprocess specs), for a call activity."""
    from engine.errors import CalledProcessError

    try:
        version = approved_version(session, process_id)
    except (DefinitionNotFound, DefinitionStateError) as exc:
        raise CalledProcessError(f"called process '{process_id}': {exc}") from exc
    spec, subprocess_specs = version_ref(session, version.id).spec()
    return version.id, spec, subprocess_specs


def list_definitions(session: Session) -> list[dict[str, Any]]:
    out = []
    for definition in session.execute(select(ProcessDefinition).order_by(ProcessDefinition.key)).scalars():
        out.append({"key": definition.key, "name": definition.name, "versions": history(session, definition.key)})
    return out


def history(session: Session, key: str) -> list[dict[str, Any]]:
    """Who changed what, when and why: one entry per version, oldest first."""
    definition = get_definition(session, key)
    states = version_states(session, key)
    return [{"id": v.id, "version": v.version, "status": version_status(v, states), "reason": v.change_reason,
             "created_by": v.created_by, "created_at": v.created_at, "approved_by": v.approved_by,
             "approved_at": v.approved_at, "files_sha256": v.files_sha256,
             "effective_from": states[v.version][1] if v.version in states else None}
            for v in session.execute(select(ProcessDefinitionVersion).where(
                ProcessDefinitionVersion.definition_id == definition.id)
                .order_by(ProcessDefinitionVersion.version)).scalars()]


def version_status(version: ProcessDefinitionVersion, states: Mapping[int, tuple[str, str]]) -> str:
    """The status of `version` now: a draft's is stored; an approved version's follows the dates
    (`states`: engine.definition_changes.version_states of its process)."""
    if version.status in (VersionStatus.APPROVED.value, VersionStatus.SUPERSEDED.value) and version.version in states:
        return states[version.version][0]
    return version.status


def status_now(session: Session, version: ProcessDefinitionVersion) -> tuple[str, str | None]:
    """(status now, effective from) of one version (see `version_status`)."""
    definition = session.get(ProcessDefinition, version.definition_id)
    states = version_states(session, definition.key)
    return version_status(version, states), states[version.version][1] if version.version in states else None


def version_files(version: ProcessDefinitionVersion) -> dict[str, bytes]:
    return {k: v.encode("utf-8") for k, v in json.loads(version.files_json).items()}


def version_spec(version: ProcessDefinitionVersion) -> tuple[Any, dict[str, Any]]:
    return cached_spec(version.id, version.files_sha256, lambda: version.spec_json)


@dataclass
class VersionRef:
    """What a step needs of its definition version; the large texts load only on a cache miss.

    Versions never change content (only their status), so (id, files_sha256) names the
    content for the process-wide caches of specs and forms.
    """

    id: int
    files_sha256: str
    session: Session

    def spec(self) -> tuple[Any, dict[str, Any]]:
        return cached_spec(self.id, self.files_sha256, lambda: self._text(ProcessDefinitionVersion.spec_json))

    def forms(self) -> dict[str, Any]:
        key = (self.id, self.files_sha256)
        cached = _json_cache.get(key)
        if cached is None:
            cached = _parse_json_files(self._text(ProcessDefinitionVersion.files_json))
            _remember(key, cached)
        return cached

    def _text(self, column: Any) -> str:
        return self.session.execute(select(column).where(ProcessDefinitionVersion.id == self.id)).scalar_one()


def version_ref(session: Session, version_id: int) -> VersionRef:
    """The caches are keyed by (id, content hash): safe across databases and restores."""
    sha = session.execute(select(ProcessDefinitionVersion.files_sha256)
                          .where(ProcessDefinitionVersion.id == version_id)).scalar_one()
    return VersionRef(version_id, sha, session)


_json_cache: dict[tuple[int, str], dict[str, Any]] = {}


def version_json(version: ProcessDefinitionVersion) -> dict[str, Any]:
    """The parsed JSON files (forms) of a version, parsed once per process (versions never change)."""
    key = (version.id, version.files_sha256)
    cached = _json_cache.get(key)
    if cached is None:
        cached = _parse_json_files(version.files_json)
        _remember(key, cached)
    return cached


def _parse_json_files(files_json: str) -> dict[str, Any]:
    return {name: json.loads(text) for name, text in json.loads(files_json).items()
            if name.lower().endswith(".json")}


def _remember(key: tuple[int, str], value: dict[str, Any]) -> None:
    if len(_json_cache) > 256:
        _json_cache.clear()
    _json_cache[key] = value


# ---------------------------------------------------------------- comparison
@dataclass
class VersionDiff:
    old: int
    new: int
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "added": self.added, "removed": self.removed,
                "changed": self.changed}

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def compare(old: ProcessDefinitionVersion, new: ProcessDefinitionVersion) -> VersionDiff:
    """Elements added, removed and changed (name, lane, properties, or content) from `old` to `new`."""
    a = json.loads(old.elements_json)
    b = json.loads(new.elements_json)
    diff = VersionDiff(old=old.version, new=new.version)
    for key in sorted(b.keys() - a.keys()):
        diff.added.append({"id": key, "tag": b[key]["tag"], "name": b[key]["name"]})
    for key in sorted(a.keys() - b.keys()):
        diff.removed.append({"id": key, "tag": a[key]["tag"], "name": a[key]["name"]})
    for key in sorted(a.keys() & b.keys()):
        if a[key]["fingerprint"] == b[key]["fingerprint"] and a[key]["tag"] == b[key]["tag"]:
            continue
        fields = []
        for name in ("tag", "name", "lane"):
            if a[key][name] != b[key][name]:
                fields.append([name, a[key][name], b[key][name]])
        props_a, props_b = a[key]["properties"], b[key]["properties"]
        for prop in sorted(props_a.keys() | props_b.keys()):
            if props_a.get(prop) != props_b.get(prop):
                fields.append([f"property:{prop}", props_a.get(prop), props_b.get(prop)])
        if not fields:
            fields.append(["content", a[key]["fingerprint"][:12], b[key]["fingerprint"][:12]])
        diff.changed.append({"id": key, "tag": b[key]["tag"], "name": b[key]["name"], "fields": fields})
    return diff


def compare_versions(session: Session, key: str, old_number: int, new_number: int) -> VersionDiff:
    return compare(find_version(session, key, old_number), find_version(session, key, new_number))
