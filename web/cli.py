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


class _Stop(Exception):
    """SIGTERM or SIGINT arrived: stop every child, then exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def stop_children(children: list[tuple[str, subprocess.Popen[bytes]]], timeout: float = 10.0) -> None:
    """SIGTERM to every child still running, then wait; SIGKILL whoever is still there after `timeout`."""
    for _name, child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{name} did not stop within {timeout:g} s: killed", err=True)
            child.kill()
            child.wait()


@click.command()
def run() -> None:
    """Migrate, seed demo data (GMP_DEMO=1), start simulators, scheduler, notifier and web server.

    Prints the address and the demo users; what the parts print goes to instance/logs/.
    SIGTERM or SIGINT (Ctrl-C; also when not started from a terminal, where SIGINT may arrive
    ignored) stops every child process, then this one.
    """
    from store.verified_upgrade import verified_upgrade

    # Our own handlers, whatever was inherited: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    code = 0
    try:
        settings = cli_settings()
        logs = settings.instance / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        first = settings.demo and not (settings.instance / "demo-users.txt").exists()
        click.echo("Starting GMP Workflow" + (" (the first start also creates the demo data)..." if first else "..."))
        verified_upgrade(settings.database_url)
        gmp = [sys.executable, "-m", "cli"]
        # children start with the default SIGINT action, not an ignored one inherited from here
        restore = {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}
        if settings.demo and _available("web.demo_cli"):
            with open(logs / "demo-seed.log", "wb") as log:
                seeding = subprocess.Popen([*gmp, "demo", "seed"], stdout=log, stderr=subprocess.STDOUT,
                                           **restore)  # type: ignore[call-overload]
                children.append(("demo seed", seeding))
                if seeding.wait() != 0:
                    click.echo((logs / "demo-seed.log").read_text(encoding="utf-8", errors="replace"), err=True)
                    raise click.ClickException("the demo data could not be created (see above)")
            children.clear()
        plant = [a for item in DEMO_PLANT for a in ("--set", item)] if settings.demo else []
        plant += ["--control-port", str(settings.simulator_control_port)]  # `gmp plant set` (breakers, gas, ...)
        for name, module, extra in (("simulate", "connectors.cli", plant), ("scheduler", "engine.scheduler_cli", []),
                                    ("notify", "notifications.cli", [])):
            if _available(module):
                with open(logs / f"{name}.log", "ab") as log:
                    children.append((name, subprocess.Popen([*gmp, name, *extra], stdout=log, stderr=subprocess.STDOUT,
                                                            **restore)))  # type: ignore[call-overload]
        with open(logs / "web.log", "ab") as log:
            web = subprocess.Popen([*gmp, "serve"], stdout=log, stderr=subprocess.STDOUT,
                                   **restore)  # type: ignore[call-overload]
        children.append(("serve", web))
        url = f"http://{settings.web_host}:{settings.web_port}"
        if _wait_until_serving(settings.web_host, settings.web_port, web):
            click.echo(start_banner(url, demo_users(settings.instance) if settings.demo else [], logs))
        elif web.poll() is None:
            click.echo(f"the web server does not answer at {url} yet; see {logs / 'web.log'}", err=True)
        reported: set[str] = set()
        while web.poll() is None:
            for name, child in children:
                if name not in reported and child.poll() is not None:
                    reported.add(name)
                    click.echo(f"{name} exited with status {child.returncode} (see {logs / (name + '.log')})",
                               err=True)
            time.sleep(0.2)
        code = web.returncode or 0
        click.echo(f"the web server exited with status {code} (see {logs / 'web.log'}): stopping the others",
                   err=True)
    except _Stop as stop:
        click.echo(f"{stop}: stopping {len([c for _, c in children if c.poll() is None])} processes", err=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the shutdown
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_children(children)
    sys.stdout.flush()
    os._exit(code)


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
