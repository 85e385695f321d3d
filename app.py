"""Application factory. Nothing is built at import time.

    create_app()                      # configuration from instance file and GMP_*
    create_app({"database_url": ...}) # explicit overrides (tests)

`python app.py` serves for development.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from core.config import load_settings
    from store.db import Database

    settings = load_settings(config)
    app = Flask(__name__, instance_path=settings.instance_path, instance_relative_config=False,
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
    from bpmn.glue import install

    install(db, settings)  # the process library's operators, bound to this database
    app.extensions["gmp.settings"] = settings
    app.extensions["gmp.db"] = db

    from web import register

    register(app)
    return app


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=5000)
