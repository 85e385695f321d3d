"""Web application: thin Flask blueprints over the services.

The only package (with app.py and web/cli.py) that imports Flask. Request pipeline:
load the signed-in user (server-side session, timeout) -> role x URL matrix guard
(web/access_matrix.yaml) -> CSRF check -> view (one unit of work) -> one error handler.
"""
from __future__ import annotations

import importlib
from datetime import timedelta

from flask import Flask

from core import clock

# Blueprints in the order they are registered: "module:attribute". A blueprint whose
# service package is not installed yet is left out; the access-matrix test covers
# whatever is registered.
BLUEPRINTS = [
    "web.health:bp",
    "web.pages:assets",
    "web.pages:bp",
    "web.auth:bp",
    "web.admin:bp",
    "web.signing:bp",
    "web.auditor:bp",
    "web.operator:bp",
    "web.library:bp",
    "web.choices:bp",
    "web.records:bp",
    "web.notifications:bp",
    "web.corrections:bp",
    "web.equipment:bp",
    "web.master:bp",
    "web.api.views:bp",
    "web.api.admin:bp",
    "web.validation:bp",
    "web.periodic:bp",
    "web.plant:bp",
    "web.training:bp",
    "web.documents:bp",
    "web.plant_records:bp",
    "web.calibration:bp",
    "web.quality:bp",
    "web.batch_record:bp",
    "web.work_permit:bp",
    "web.suppliers:bp",
]


def register(app: Flask) -> None:
    """Attach blueprints, error handling and request hooks to the app."""
    from web import access, codes, current_user, errors, i18n, security

    settings = app.extensions["gmp.settings"]
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=settings.session_timeout_minutes)
    app.config["SESSION_COOKIE_NAME"] = "gmp_session"
    errors.init_app(app)
    codes.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    current_user.init_app(app)
    access.init_app(app)
    app.before_request(security.check_csrf)
    from web import signing

    signing.init_app(app)
    for target in BLUEPRINTS:
        module, _, attribute = target.partition(":")
        app.register_blueprint(getattr(importlib.import_module(module), attribute))
    app.jinja_env.globals["session_timeout_minutes"] = settings.session_timeout_minutes
    app.jinja_env.globals["site_timezone"] = settings.site_timezone
    app.jinja_env.globals["site_is_utc"] = clock.is_utc(settings.tz())
    from web.times import when

    app.jinja_env.filters["when"] = when
