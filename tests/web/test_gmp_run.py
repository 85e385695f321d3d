"""`gmp run` (what `make run` starts): a short, clean start that prints the address and the demo
users, sends what its parts print to instance/logs/, serves a favicon, and stops its parts."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from connectors.simulator.plant import free_port
from tests.conftest import TEST_PASSPHRASE, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 600) -> str:
    """stdout of `process` until it holds `marker` (or it exits, or the time is up). Reads the pipe
    itself: a buffered reader would keep lines that arrived together out of the selector's sight."""
    fd = process.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    return seen.decode("utf-8", errors="replace")


@pytest.mark.slow
@pytest.mark.req("URS-UX-005")
def test_gmp_run_prints_only_the_address_and_stops_its_parts(tmp_path):
    instance = tmp_path / "instance"
    port = free_port()
    env = {**os.environ, "GMP_INSTANCE_PATH": str(instance), "GMP_DEMO": "0", "GMP_WEB_PORT": str(port),
           "GMP_MODBUS_PORT": str(free_port()), "GMP_OPCUA_PORT": str(free_port()), "GMP_SECRET_KEY": TEST_SECRET,
           "GMP_SERVER_KEY_PASSPHRASE": TEST_PASSPHRASE, "GMP_DATABASE_URL": f"sqlite:///{tmp_path / 'gmp.sqlite3'}"}
    process = subprocess.Popen([sys.executable, "-m", "cli", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output = read_until(process, "Stop: Ctrl+C")
        assert f"GMP Workflow is running: http://127.0.0.1:{port}" in output, output
        assert "WARNING" not in output and "Traceback" not in output and '"ready"' not in output, output
        assert output.startswith("Starting GMP Workflow...") and len(output.strip().splitlines()) <= 5, output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=10) as response:
            assert response.status == 200 and response.headers["Content-Type"] == "image/vnd.microsoft.icon"
            assert response.read()[:4] == b"\x00\x00\x01\x00"  # an ICO file
        assert {"web.log", "simulate.log", "scheduler.log", "notify.log"} <= {p.name for p in (instance / "logs").iterdir()}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    with pytest.raises(OSError):  # the web server stopped with it
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


@pytest.mark.req("URS-UX-005")
def test_the_start_banner_lists_the_demo_users(tmp_path):
    from bpmn.demo import DEMO_PASSWORD
    from web.cli import demo_users, start_banner

    (tmp_path / "demo-users.txt").write_text(f"password for every demo user: {DEMO_PASSWORD}\nuser\tname\troles\tTOTP secret\n"
                                             "alice\tAlice Operator\toperator\tSECRET\nlin\t林晓 Lin Xiao\toperator\tS2\n",
                                             encoding="utf-8")
    banner = start_banner("http://127.0.0.1:5000", demo_users(tmp_path), tmp_path / "logs")
    assert banner.startswith("GMP Workflow is running: http://127.0.0.1:5000")
    assert "alice  Alice Operator (operator)" in banner and "林晓 Lin Xiao" in banner and DEMO_PASSWORD in banner
    assert "SECRET" not in banner and "gmp demo totp USER" in banner
    assert demo_users(tmp_path / "nowhere") == []
