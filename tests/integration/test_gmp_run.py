"""`gmp run` stops every child process on SIGTERM and on SIGINT, also when started without a terminal."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
from tests.support.pgserver import free_port

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.req("URS-FND-001")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_gmp_run_stops_every_child(tmp_path, signum):
    web, modbus, opcua = free_port(), free_port(), free_port()
    env = {**os.environ, "GMP_INSTANCE_PATH": str(tmp_path / "instance"),
           "GMP_DATABASE_URL": f"sqlite:///{tmp_path / 'gmp.sqlite3'}", "GMP_SECRET_KEY": TEST_SECRET,
           "GMP_SERVER_KEY_PASSPHRASE": TEST_PASSPHRASE, "GMP_DEMO": "0", "GMP_WEB_PORT": str(web),
           "GMP_MODBUS_PORT": str(modbus), "GMP_OPCUA_PORT": str(opcua)}
    # started as a shell starts a background job: no terminal, SIGINT ignored
    proc = subprocess.Popen([sys.executable, "-m", "cli", "run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        _wait_for(lambda: _answers(web) and len(_children(proc.pid)) >= 4, 120, "the web server and four children")
        children = _children(proc.pid)
        proc.send_signal(signum)
        proc.wait(timeout=60)
        output = proc.stdout.read().decode() if proc.stdout else ""
        assert f"{signal.Signals(signum).name}: stopping 4 processes" in output, output
        _wait_for(lambda: not any(_alive(pid) for pid in children), 10, "every child to be gone")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", web), timeout=2).close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in _children(proc.pid):
            os.kill(pid, signal.SIGKILL)
