"""The production web server: gunicorn with worker processes, each with its own application.

    serve(settings, workers=2, threads=4)            # blocks until SIGTERM/SIGINT
    serve(settings, app_factory=factory)            # the same server around another factory (tests)

Every worker process builds its own application (and so its own database pool) after the
fork: nothing is shared between workers except the database and the instance folder.
gunicorn trusts X-Forwarded-Proto/-For only from `web_forwarded_allow_ips` (a reverse
proxy terminating TLS, see docs/operations.md).
"""
from __future__ import annotations

from typing import Any, Callable

from gunicorn.app.base import BaseApplication

from core.config import Settings


class GmpServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app_factory: Callable[[], Any], options: dict[str, Any]) -> None:
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.app_factory()


def options(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int | None = None,
            threads: int | None = None) -> dict[str, Any]:
    """gunicorn's configuration from the product's settings (and command-line overrides)."""
    threads = threads or settings.web_threads
    return {
        "bind": [f"{host or settings.web_host}:{port or settings.web_port}"],
        "workers": workers or settings.web_workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "preload_app": False,  # each worker opens its own database connections after the fork
        "timeout": 120,  # a long PDF export must not be killed as a hung worker
        "graceful_timeout": 30,
        "keepalive": 5,
        "forwarded_allow_ips": settings.web_forwarded_allow_ips,
        "proxy_allow_ips": settings.web_forwarded_allow_ips,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "gmp-web",
        "limit_request_line": 8190,
        "control_socket_disable": True,  # no shared control socket in the home folder (several servers per host)
    }


def serve(settings: Settings, app_factory: Callable[[], Any] | None = None, **overrides: Any) -> None:
    if app_factory is None:
        from web.factory import create_app

        app_factory = create_app
    GmpServer(app_factory, options(settings, **overrides)).run()
