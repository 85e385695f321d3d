"""`gmp serve` is the production server: gunicorn with the configured number of worker processes,
each answering on its own database connections; it stops cleanly on SIGTERM; bad settings stop it
with a message naming the setting."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET

pytestmark = pytest.mark.req("URS-OPS-001")
ROOT = Path(__file__).resolve().parents[2]


def gmp_env(settings, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMP_")}
    env.update(GMP_INSTANCE_PATH=settings.instance_path, GMP_DATABASE_URL=settings.database_url,
               GMP_SECRET_KEY=TEST_SECRET, GMP_SERVER_KEY_PASSPHRASE=TEST_PASSPHRASE, **extra)
    return env


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def test_gmp_serve_runs_workers_that_answer_and_stop_on_sigterm(settings):  # type: ignore[no-untyped-def]
    from connectors.simulator.plant import free_port

    port = free_port()
    env = gmp_env(settings, GMP_WEB_PORT=str(port), GMP_WEB_WORKERS="3", GMP_WEB_THREADS="2")
    log = Path(settings.instance_path) / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "cli", "serve"], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        body = None
        while body is None:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(0.1)
        assert body["status"] == "ok"
        while len(children(server.pid)) < 3:  # every worker booted (they start one after another)
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert len(children(server.pid)) == 3
        text = log.read_text()
        assert "Starting gunicorn" in text and "Using worker: gthread" in text
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "Shutting down" in log.read_text()


@pytest.mark.parametrize("name, value", [("GMP_WEB_WORKERS", "0"), ("GMP_WEB_THREADS", "many")])
def test_a_bad_server_setting_stops_the_start_naming_it(settings, name, value):  # type: ignore[no-untyped-def]
    result = subprocess.run([sys.executable, "-m", "cli", "serve"], cwd=ROOT, env=gmp_env(settings, **{name: value}),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert name in result.stderr and "invalid value" in result.stderr


def test_gunicorn_options_follow_the_settings(settings):  # type: ignore[no-untyped-def]
    import dataclasses

    from web.server import options

    single = options(dataclasses.replace(settings, web_threads=1, web_workers=4, web_forwarded_allow_ips="10.0.0.5"))
    assert (single["workers"], single["threads"], single["worker_class"]) == (4, 1, "sync")
    assert single["forwarded_allow_ips"] == "10.0.0.5" and single["preload_app"] is False
    many = options(settings, host="0.0.0.0", port=8123, workers=2, threads=8)
    assert (many["bind"], many["workers"], many["threads"], many["worker_class"]) == (["0.0.0.0:8123"], 2, 8, "gthread")
