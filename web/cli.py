"""`gmp serve` (the web server) and `gmp run` (everything `make run` starts)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from core.modules import optional_module
from store.cli import cli_settings


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
        verified_upgrade(settings.database_url)
        click.echo(f"database ready: {settings.database_url}")
        gmp = [sys.executable, "-m", "cli"]
        # children start with the default SIGINT action, not an ignored one inherited from here
        restore = {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}
        if settings.demo and _available("web.demo_cli"):
            seeding = subprocess.Popen([*gmp, "demo", "seed"], **restore)  # type: ignore[call-overload]
            children.append(("demo seed", seeding))
            if seeding.wait() != 0:
                raise click.ClickException("seeding the demo data failed (see above)")
            children.clear()
        for name, module in (("simulate", "connectors.cli"), ("scheduler", "engine.scheduler_cli"),
                             ("notify", "web.notify_cli")):
            if _available(module):
                click.echo(f"starting {name}")
                children.append((name, subprocess.Popen([*gmp, name], **restore)))  # type: ignore[call-overload]
        click.echo(f"serving on http://{settings.web_host}:{settings.web_port}")
        web = subprocess.Popen([*gmp, "serve"], **restore)  # type: ignore[call-overload]
        children.append(("serve", web))
        reported: set[str] = set()
        while web.poll() is None:
            for name, child in children:
                if name not in reported and child.poll() is not None:
                    reported.add(name)
                    click.echo(f"{name} exited with status {child.returncode}", err=True)
            time.sleep(0.2)
        code = web.returncode or 0
        click.echo(f"the web server exited with status {code}: stopping the others", err=True)
    except _Stop as stop:
        click.echo(f"{stop}: stopping {len([c for _, c in children if c.poll() is None])} processes", err=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the shutdown
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_children(children)
    sys.stdout.flush()
    os._exit(code)
