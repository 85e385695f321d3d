"""Application factory (web.factory.create_app). Nothing is built at import time.

    create_app()                      # configuration from instance file and GMP_*
    create_app({"database_url": ...}) # explicit overrides (tests)

`python app.py` serves for development.
"""
from __future__ import annotations

from web.factory import create_app

__all__ = ["create_app"]


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=5000)
