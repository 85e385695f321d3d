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


@click.command()
def run() -> None:
    """Migrate, seed demo data (GMP_DEMO=1), start simulators and scheduler, serve."""
    from store.verified_upgrade import verified_upgrade

    settings = cli_settings()
    verified_upgrade(settings.database_url)
    click.echo(f"database ready: {settings.database_url}")
    gmp = [sys.executable, "-m", "cli"]
    if settings.demo and _available("web.demo_cli"):
        subprocess.run([*gmp, "demo", "seed"], check=True)
    children: list[subprocess.Popen[bytes]] = []
    for name, module in (("simulate", "connectors.cli"), ("scheduler", "engine.scheduler_cli"), ("notify", "web.notify_cli")):
        if _available(module):
            click.echo(f"starting {name}")
            children.append(subprocess.Popen([*gmp, name]))
    try:
        time.sleep(0.5)
        url = f"http://{settings.web_host}:{settings.web_port}"
        click.echo(f"serving on {url}")
        subprocess.run([*gmp, "serve"], check=False)
    except KeyboardInterrupt:
        pass
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
