"""Web application: thin Flask blueprints over the services.

The only package (with app.py and web/cli.py) that imports Flask.
"""
from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Attach blueprints, error handling and request hooks to the app."""
    from web import health

    app.register_blueprint(health.bp)
