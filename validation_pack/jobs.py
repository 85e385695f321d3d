"""Background builds of validation packs (for the web application): each pack lives in
`instance/validation/<pack id>/`; a build or a re-issue runs as a `gmp validation-pack`
process of its own, its state in `<pack id>.job.json` and its output in `<pack id>.log`
beside the folder. The web pages read the state and the pack's progress.json.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from core import clock
from core.config import PROJECT_ROOT, Settings
from validation_pack.oq import ValidationError
from validation_pack.pack import PACK, load_pack, new_pack_id, read_progress

PACK_ID = re.compile(r"^VP-\d{8}-\d{6}-[0-9A-F]{4}$")


class PackNotFound(ValidationError):
    http_status = 404


def packs_folder(settings: Settings) -> Path:
    folder = settings.instance / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pack_folder(settings: Settings, pack_id: str) -> Path:
    if not PACK_ID.match(pack_id or ""):
        raise PackNotFound(f"no validation pack {pack_id!r}")
    folder = packs_folder(settings) / pack_id
    if not folder.exists() and not (packs_folder(settings) / f"{pack_id}.job.json").exists():
        raise PackNotFound(f"no validation pack {pack_id!r}")
    return folder


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMP_")}
    env.update({"GMP_INSTANCE_PATH": settings.instance_path, "GMP_DATABASE_URL": settings.database_url,
                "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
                "GMP_SITE_TIMEZONE": settings.site_timezone})
    return env


def _spawn(settings: Settings, pack_id: str, kind: str, args: list[str], user_id: str) -> dict[str, Any]:
    root = packs_folder(settings)
    log = (root / f"{pack_id}.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "cli", "validation-pack", *args], cwd=PROJECT_ROOT,
                               env=_environment(settings), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    job = {"pack_id": pack_id, "kind": kind, "pid": process.pid, "started_by": user_id,
           "started_at": clock.isoformat(clock.now()), "args": args}
    (root / f"{pack_id}.job.json").write_text(json.dumps(job), encoding="utf-8")
    return job


def start_build(settings: Settings, user_id: str, *, quick: bool, pq: bool, from_pack: str | None = None) -> str:
    """Start a build in the background; returns the new pack's ID."""
    pack_id = new_pack_id()
    args = ["build", "--out", str(packs_folder(settings) / pack_id), "--pack-id", pack_id, "--actor", user_id]
    if quick:
        args.append("--quick")
    if not pq:
        args.append("--no-pq")
    if from_pack:
        source = pack_folder(settings, from_pack) / "oq"
        if not (source / "run.json").exists():
            raise ValidationError(f"the pack {from_pack} holds no OQ run to build from")
        args += ["--from-results", str(source)]
    _spawn(settings, pack_id, "build", args, user_id)
    return pack_id


def start_issue(settings: Settings, pack_id: str, user_id: str) -> None:
    """Re-render the documents of a pack with its signatures, in the background."""
    _spawn(settings, pack_id, "issue", ["issue", str(pack_folder(settings, pack_id))], user_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child not yet reaped is a zombie: not running
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return True


def status(settings: Settings, pack_id: str) -> dict[str, Any]:
    """{state: running|done|failed, stage, done, total, job, log_tail}."""
    folder = pack_folder(settings, pack_id)
    root = packs_folder(settings)
    job_path = root / f"{pack_id}.job.json"
    job = json.loads(job_path.read_text(encoding="utf-8")) if job_path.exists() else {}
    progress = read_progress(folder) if folder.exists() else {"stage": "starting", "done": 0, "total": 0}
    running = bool(job) and _alive(int(job["pid"]))
    if running:
        state = "running"
    elif (folder / PACK).exists() and progress.get("stage") == "done":
        state = "done"
    elif not job and (folder / PACK).exists():
        state = "done"
    else:
        state = "failed"
    log = root / f"{pack_id}.log"
    tail = log.read_text(encoding="utf-8", errors="replace")[-1500:] if log.exists() and state == "failed" else ""
    return {"pack_id": pack_id, "state": state, "stage": progress.get("stage"), "done": progress.get("done", 0),
            "total": progress.get("total", 0), "job": job, "log_tail": tail}


def list_packs(settings: Settings) -> list[dict[str, Any]]:
    root = packs_folder(settings)
    ids = {p.name for p in root.iterdir() if p.is_dir() and PACK_ID.match(p.name)}
    ids |= {p.name[:-len(".job.json")] for p in root.glob("*.job.json")}
    found = []
    for pack_id in sorted(ids, reverse=True):
        entry = status(settings, pack_id)
        folder = root / pack_id
        entry["has_oq"] = entry["state"] != "running" and (folder / "oq" / "run.json").exists()
        if (folder / PACK).exists():
            pack = load_pack(folder)
            first = pack["signatures"].get("SUMMARY", [])
            entry["signatures"] = {s["meaning"]: s for s in first}
            entry["built_at"] = pack["built_at"]
            entry["quick"] = pack.get("quick")
        found.append(entry)
    return found
