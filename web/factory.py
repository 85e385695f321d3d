"""The application factory. Nothing is built at import time.

    create_app()                      # configuration from instance file and GMP_*
    create_app({"database_url": ...}) # explicit overrides (tests)
    create_app(config, runtime=rt)    # an engine runtime built by the caller (tests)

The application holds what it was built with in `app.extensions`: "gmp.settings",
"gmp.db" and "gmp.runtime" (the engine runtime from the process library's install step,
bpmn.glue.install). The runtime is made current for each request (engine.runtime), so
engine calls in a view use it; nothing in the process's globals changes.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, g

from engine.runtime import EngineRuntime, activate, deactivate


def create_app(config: Mapping[str, Any] | None = None, *, runtime: EngineRuntime | None = None) -> Flask:
    from core.config import load_settings
    from store.db import Database

    settings = load_settings(config)
    app = Flask("app", instance_path=settings.instance_path, instance_relative_config=False,
                static_folder=None, template_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    from audit.checkpoints import enable_periodic

    db = Database(settings.database_url)
    enable_periodic(db, settings)  # a signed audit checkpoint every GMP_CHECKPOINT_INTERVAL_ENTRIES entries
    if runtime is None:
        from bpmn.glue import install

        runtime = install(db, settings)  # the engine's and the process library's parts, for this application
    app.extensions["gmp.settings"] = settings
    app.extensions["gmp.db"] = db
    app.extensions["gmp.runtime"] = runtime
    install_runtime(app)

    from web import register

    register(app)
    return app


def install_runtime(app: Flask) -> None:
    """Make the application's engine runtime current for each request (first hook of all)."""
    runtime = app.extensions["gmp.runtime"]

    def enter() -> None:
        g.gmp_runtime_token = activate(runtime)

    def leave(_exc: BaseException | None) -> None:
        token = g.pop("gmp_runtime_token", None)
        if token is not None:
            deactivate(token)

    app.before_request_funcs.setdefault(None, []).insert(0, enter)
    app.teardown_request(leave)
