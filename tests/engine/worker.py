"""A separate process completing one task (used by the concurrency test).

python -m tests.engine.worker URL TASK_ID USER DATA_JSON SIGNATURE_MEANING GO_FILE
waits until GO_FILE exists, then completes the task and prints 'ok <lock_version>'.
"""
from __future__ import annotations

import json
import os
import sys
import time

from engine import tasks
from engine.install import build_runtime
from engine.ports import EngineServices, jsonschema_validate
from store.db import Database
from store.uow import UnitOfWork
from tests.engine.conftest import MEANINGS, ROLES, TestSigner, actor, sig


def main(argv: list[str]) -> int:
    url, task_id, user, data, meaning, go = argv
    services = EngineServices(roles_of=lambda uow, u: ROLES.get(u, set()), sign=TestSigner(),
                              validate_form=jsonschema_validate, meanings=MEANINGS)
    db = Database(url)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    signatures = [sig(user, meaning)] if meaning != "-" else []
    runtime = build_runtime(name="worker")  # this process's own runtime
    with UnitOfWork(db, actor(user)) as uow:
        result = tasks.complete_task(uow, task_id, json.loads(data), signatures, services=services, runtime=runtime)
        uow.commit()
    print("ok", result.instance_status, flush=True)
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
