"""`gmp serve` (the web server) and `gmp run` (everything `make run` starts)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from core.modules import optional_module
from store.cli import cli_settings

# Material on the demo plant's scale, so that the demo weighing reads a weight within its limits.
DEMO_PLANT = ("scale.load=10.012",)


@click.command()
@click.option("--host", default=None, help="address to bind (default GMP_WEB_HOST)")
@click.option("--port", default=None, type=int, help="port to bind (default GMP_WEB_PORT)")
@click.option("--workers", default=None, type=click.IntRange(min=1), help="worker processes (default GMP_WEB_WORKERS)")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="threads per worker (default GMP_WEB_THREADS)")
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve the web application on the production WSGI server (gunicorn)."""
    from web.server import serve as serve_forever

    settings = cli_settings()
    serve_forever(settings, host=host, port=port, workers=workers, threads=threads)


def _available(module: str) -> bool:
    return optional_module(module) is not None


def demo_users(instance: Path) -> list[tuple[str, str, str]]:
    """(user, name, roles) of the demo users, from instance/demo-users.txt (empty when absent)."""
    path = instance / "demo-users.txt"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines()[2:]:
        parts = line.split("\t")
        if len(parts) >= 3:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def start_banner(url: str, users: list[tuple[str, str, str]], logs: Path) -> str:
    """What a newcomer sees when the product is up: where it is, who can sign in, where the logs go."""
    lines = [f"GMP Workflow is running: {url}", ""]
    if users:
        from bpmn.demo import DEMO_PASSWORD

        width = max(len(user) for user, _name, _roles in users)
        lines.append(f"Demo users (password {DEMO_PASSWORD}; the second factor is a TOTP code:")
        lines.append("`.venv/bin/gmp demo totp USER` prints one, or add the secret from instance/demo-users.txt "
                     "to an authenticator app):")
        lines += [f"  {user.ljust(width)}  {name} ({roles})" for user, name, roles in users]
        lines.append("")
    lines.append(f"Logs: {logs}/   Stop: Ctrl+C")
    return "\n".join(lines)


@click.command()
def run() -> None:
    """Migrate, seed demo data (GMP_DEMO=1), start simulators, scheduler and notifications, serve.

    Prints only the address and the demo users; what the parts print goes to instance/logs/."""
    from store.verified_upgrade import verified_upgrade

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # stopped by a service manager: stop the parts too
    settings = cli_settings()
    logs = settings.instance / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    click.echo("Starting GMP Workflow" + (" (the first start also creates the demo data)..." if settings.demo
                                          and not (settings.instance / "demo-users.txt").exists() else "..."))
    verified_upgrade(settings.database_url)
    gmp = [sys.executable, "-m", "cli"]
    if settings.demo and _available("web.demo_cli"):
        seeded = subprocess.run([*gmp, "demo", "seed"], capture_output=True, text=True)
        (logs / "demo-seed.log").write_text(seeded.stdout + seeded.stderr, encoding="utf-8")
        if seeded.returncode != 0:
            click.echo(seeded.stdout + seeded.stderr, err=True)
            raise click.ClickException("the demo data could not be created (see above)")
    children: list[subprocess.Popen[bytes]] = []
    parts = [("simulate", "connectors.cli", [*(a for item in DEMO_PLANT for a in ("--set", item))] if settings.demo
              else []), ("scheduler", "engine.scheduler_cli", []), ("notify", "web.notify_cli", [])]
    for name, module, extra in parts:
        if _available(module):
            with open(logs / f"{name}.log", "ab") as log:
                children.append(subprocess.Popen([*gmp, name, *extra], stdout=log, stderr=subprocess.STDOUT))
    url = f"http://{settings.web_host}:{settings.web_port}"
    try:
        with open(logs / "web.log", "ab") as log:
            server = subprocess.Popen([*gmp, "serve"], stdout=log, stderr=subprocess.STDOUT)
        children.append(server)
        if _wait_until_serving(settings.web_host, settings.web_port, server):
            click.echo(start_banner(url, demo_users(settings.instance) if settings.demo else [], logs))
        else:
            click.echo(f"the web server did not start; see {logs / 'web.log'}", err=True)
        server.wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    os._exit(0)


def _wait_until_serving(host: str, port: int, server: subprocess.Popen[bytes], timeout: float = 600) -> bool:
    """True once the port accepts connections; False if the server exits or the time is up."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False
