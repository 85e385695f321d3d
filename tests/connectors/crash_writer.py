"""A process that requests and sends a set-point write, then dies before the read-back.

Run by test_setpoints.py: python -m tests.connectors.crash_writer TAG VALUE INSTANCE TASK SIGNATURE_ID
(configuration from GMP_* environment variables, as the product's commands do).
"""
from __future__ import annotations

import os
import signal
import sys

from audit.canonical import Actor
from connectors.client import ClientOptions, EquipmentClient
from connectors.setpoints import request_write, send_write
from core.config import load_settings
from store.db import Database
from store.uow import UnitOfWork


def main(tag: str, value: str, instance: str, task: str, signature_id: str) -> None:
    settings = load_settings()
    db = Database(settings.database_url)
    with UnitOfWork(db, Actor("engine", "Engine worker")) as uow:
        _write_id, registered = request_write(uow, settings, tag, float(value), instance_id=instance, task_id=task,
                                              signature_id=signature_id)
        uow.commit()
    send_write(EquipmentClient(ClientOptions(timeout=2.0)), registered.definition, float(value))
    print("sent", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the crash: no read-back, no outcome


if __name__ == "__main__":
    main(*sys.argv[1:6])
