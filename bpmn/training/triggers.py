"""What starts a training (besides CAPA actions and effective documents, which start it with
`start_linked_process`, PROCESSES.md items 5 and 6):

    roles_granted(uow, "alice", ["operator"], "role_granted")   # a new user, a role granted
    start_training(uow, {"trainee": "alice", "documents": [{"code": "SOP-1"}], "trigger": "manual"})

`roles_granted` is the runtime's role hook (`EngineRuntime.add_role_hook`, attached by
bpmn.training.install): the administration pages call `runtime.roles_granted(...)` after an
account is created or a role granted, in the same unit of work. It starts one training for the
SOPs the training matrix in force requires of the roles on which the person holds no current
qualification for the version in force, unless a running training of theirs covers them
already. Requalification is the diagram's own timer (the qualification's validity end).
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from sqlalchemy import select

from bpmn.training.operators import matrix_documents

PROCESS_KEY = "training"


def _approved(session: Any) -> bool:
    from engine.models import ProcessDefinition, ProcessDefinitionVersion

    return session.scalar(select(ProcessDefinitionVersion.id)
                          .join(ProcessDefinition, ProcessDefinition.id == ProcessDefinitionVersion.definition_id)
                          .where(ProcessDefinition.key == PROCESS_KEY,
                                 ProcessDefinitionVersion.status == "approved")) is not None


def latest_data(session: Any, instance_id: int) -> dict[str, Any]:
    """The data of an instance as its most recently reached task holds it (ready, waiting or done)."""
    from engine.models import InstanceTask
    from engine.spiff.serializer import row_data
    from engine.spiff.workflow import COMPLETED, READY, STARTED, WAITING

    body = session.scalar(select(InstanceTask.body).where(
        InstanceTask.instance_id == instance_id, InstanceTask.dropped.is_(False),
        InstanceTask.state.in_([READY, WAITING, STARTED, COMPLETED]))
        .order_by(InstanceTask.updated_at.desc(), InstanceTask.seq.desc()).limit(1))
    return row_data(body) if body else {}


def running_documents(session: Any, trainee: str) -> set[str]:
    """Codes of the documents a running training of `trainee` covers (its curriculum, read from its
    latest task's data)."""
    from engine import instances

    found: set[str] = set()
    for item in instances.list_instances(session, status="running", key=PROCESS_KEY):
        data = latest_data(session, item["id"])
        plan = data.get("curriculum") or data.get("training")
        if isinstance(plan, Mapping) and plan.get("trainee") == trainee:
            found.update(str(d.get("code")) for d in plan.get("documents") or [] if isinstance(d, Mapping))
    return found


def start_training(uow: Any, training: Mapping[str, Any], *, settings: Any = None, runtime: Any = None,
                   title: str | None = None) -> int:
    """Start a training instance (the plan step checks the data: a bad start stores nothing)."""
    from engine import instances

    started = instances.start(uow, PROCESS_KEY, title=title or f"Training of {training.get('trainee')}",
                              data={"training": json.loads(json.dumps(dict(training)))}, settings=settings,
                              runtime=runtime)
    return int(started.id)


def roles_granted(uow: Any, user_id: str, roles: Iterable[str], event: str = "role_granted", *,
                  settings: Any = None, runtime: Any = None) -> int | None:
    """Start the training the roles require of the person (None when nothing is missing or the training
    process is not approved)."""
    from masterdata import checks

    session = uow.session
    roles = [str(r) for r in roles]
    if not roles or not _approved(session):
        return None
    covered = running_documents(session, user_id)
    missing = [sop for sop in matrix_documents(session, roles)
               if sop not in covered and (problems := checks.training_problems(session, user_id, [sop]))
               and problems[0].code != "unknown_sop"]
    if not missing:
        return None
    trigger = "new_user" if event == "new_user" else "role_granted"
    return start_training(uow, {"trainee": user_id, "documents": [{"code": sop} for sop in missing],
                                "trigger": trigger, "role": roles[0] if len(roles) == 1 else None,
                                "reason": f"{'account created with' if trigger == 'new_user' else 'granted'} "
                                          f"role {', '.join(roles)}"},
                          settings=settings, runtime=runtime, title=f"Training of {user_id}: {', '.join(roles)}")
