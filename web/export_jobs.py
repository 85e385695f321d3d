"""Audit-trail exports in the background, with progress (the auditor's export button).

An export of thousands of entries takes longer than a browser waits for a download. So
the page starts a job and shows its progress; the file is offered when it is ready.

A job is a folder `instance/exports/<id>/` holding `job.json` (what was asked, by whom)
and `status.json` (state, entries done of total, file, error), written atomically. It runs
in its own process (`python -m web.export_jobs <folder>`), started in a new session: it
takes no CPU time from the web workers, survives a worker being recycled, and every
worker of every server process can report on it and serve its file (the instance folder
is shared). Only the user who asked sees the job and its file. A job whose status has
not moved for STALE_SECONDS is reported as interrupted; folders older than KEEP_HOURS are
removed when the next job starts.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import clock
from core.config import Settings

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv", "pdf": "application/pdf"}
STALE_SECONDS = 120
KEEP_HOURS = 24
_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class JobNotFound(LookupError):
    """No such job for this user."""


@dataclass(frozen=True)
class JobStatus:
    id: str
    format: str
    state: str  # queued | running | ready | failed | interrupted
    done: int
    total: int
    entries: int
    error: str | None
    requested_at: str
    finished_at: str | None
    file_name: str
    size: int
    filters: str

    @property
    def percent(self) -> int:
        if self.state == "ready":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "format": self.format, "state": self.state, "done": self.done, "total": self.total,
                "percent": self.percent, "entries": self.entries, "error": self.error,
                "requested_at": self.requested_at, "finished_at": self.finished_at, "file_name": self.file_name,
                "size": self.size}


def jobs_folder(settings: Settings) -> Path:
    return settings.instance / "exports"


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def start_job(settings: Settings, user_id: str, fmt: str, filters: dict[str, Any], described: str) -> str:
    """Create the job folder and start its process; return the job ID."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    folder = jobs_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    _clean(folder)
    job_id = secrets.token_urlsafe(12)
    job = folder / job_id
    job.mkdir(mode=0o700)
    now = clock.isoformat(clock.now())
    _write(job / "job.json", {"id": job_id, "user_id": user_id, "format": fmt, "filters": filters,
                              "described": described, "requested_at": now})
    _write(job / "status.json", {"state": "queued", "done": 0, "total": 0, "entries": 0, "error": None,
                                 "updated": time.time(), "finished_at": None, "file": None, "size": 0})
    env = {**os.environ, "GMP_INSTANCE_PATH": str(settings.instance), "GMP_DATABASE_URL": settings.database_url,
           "GMP_SECRET_KEY": settings.secret_key, "GMP_SERVER_KEY_PASSPHRASE": settings.server_key_passphrase,
           "GMP_SITE_TIMEZONE": settings.site_timezone}
    log = open(job / "worker.log", "wb")  # noqa: SIM115 - handed to the child, closed below
    try:
        subprocess.Popen([sys.executable, "-m", "web.export_jobs", str(job)], env=env, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                         cwd=str(Path(__file__).resolve().parent.parent))
    finally:
        log.close()
    return job_id


def _clean(folder: Path) -> None:
    limit = time.time() - KEEP_HOURS * 3600
    for job in folder.iterdir():
        try:
            if job.is_dir() and job.stat().st_mtime < limit:
                shutil.rmtree(job, ignore_errors=True)
        except OSError:
            continue


def _job_folder(settings: Settings, job_id: str, user_id: str) -> tuple[Path, dict[str, Any]]:
    if not job_id or not set(job_id) <= _ID_CHARS:
        raise JobNotFound(job_id)
    job = jobs_folder(settings) / job_id
    try:
        spec = _read(job / "job.json")
    except (OSError, ValueError):
        raise JobNotFound(job_id) from None
    if spec.get("user_id") != user_id:
        raise JobNotFound(job_id)  # another user's job does not exist for this one
    return job, spec


def job_status(settings: Settings, job_id: str, user_id: str) -> JobStatus:
    job, spec = _job_folder(settings, job_id, user_id)
    try:
        status = _read(job / "status.json")
    except (OSError, ValueError):
        status = {"state": "queued", "updated": time.time()}
    state = status.get("state", "queued")
    if state in ("queued", "running") and time.time() - float(status.get("updated", 0)) > STALE_SECONDS:
        state = "interrupted"
    return JobStatus(job_id, spec["format"], state, int(status.get("done") or 0), int(status.get("total") or 0),
                     int(status.get("entries") or 0), status.get("error"), spec["requested_at"],
                     status.get("finished_at"), f"audit-trail.{spec['format']}", int(status.get("size") or 0),
                     spec.get("described") or "")


def job_file(settings: Settings, job_id: str, user_id: str) -> Path:
    job, spec = _job_folder(settings, job_id, user_id)
    status = job_status(settings, job_id, user_id)
    path = job / f"audit-trail.{spec['format']}"
    if status.state != "ready" or not path.is_file():
        raise JobNotFound(job_id)
    return path


# ---------------------------------------------------------------- the job's own process
def run(job: Path) -> int:
    """Run the export described in `job/job.json`, keeping `status.json` up to date."""
    from audit.errors import AuditError
    from audit.export import export
    from audit.filters import ExportFilter
    from core.config import load_settings
    from store.db import Database

    spec = _read(job / "job.json")
    status_path = job / "status.json"
    state: dict[str, Any] = {"state": "running", "done": 0, "total": 0, "entries": 0, "error": None,
                             "updated": time.time(), "finished_at": None, "file": None, "size": 0}
    _write(status_path, state)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.time()
        if now - last[0] >= 0.5 or done >= total:
            last[0] = now
            state.update(done=done, total=total, updated=now)
            _write(status_path, state)

    settings = load_settings()
    db = Database(settings.database_url)
    out = job / f"audit-trail.{spec['format']}"
    try:
        filters = spec["filters"]
        flt = ExportFilter(object_type=filters.get("object_type"), object_ids=tuple(filters.get("object_ids") or ()),
                           actor_id=filters.get("actor_id"), action_prefix=filters.get("action_prefix"),
                           since=clock.parse_iso(filters["since"]) if filters.get("since") else None,
                           until=clock.parse_iso(filters["until"]) if filters.get("until") else None)
        if spec["format"] == "pdf":
            from audit.export import export_pdf

            result = export_pdf(db, settings, out, flt, progress, namer=_namer(db))
        else:
            result = export(db, settings, spec["format"], out, flt, progress)
    except AuditError as exc:
        state.update(state="failed", error=str(exc), updated=time.time(), finished_at=clock.isoformat(clock.now()))
        _write(status_path, state)
        return 1
    except Exception as exc:  # the page must learn that the job ended, whatever ended it
        state.update(state="failed", error=f"the export failed unexpectedly ({type(exc).__name__}); see the "
                                           "server log", updated=time.time(),
                     finished_at=clock.isoformat(clock.now()))
        _write(status_path, state)
        raise
    finally:
        db.dispose()
    state.update(state="ready", done=result.entries, total=result.entries, entries=result.entries,
                 updated=time.time(), finished_at=clock.isoformat(clock.now()), file=out.name,
                 size=out.stat().st_size)
    _write(status_path, state)
    return 0


def _namer(db: Any) -> Any:
    from web.record_names import object_names

    def names(keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        with db.read_session() as session:
            return object_names(session, keys)
    return names


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
