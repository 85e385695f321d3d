"""The production web server (web.server: gunicorn, several worker processes) as the browser tests run it.

    python -m tests.browser.server INSTANCE DATABASE_URL PORT CLOCK_FILE

The same server and application as `gmp serve`, with two test-only settings made here,
in the test harness: the test's shared clock (tests.support.shared_clock) and the cheap
argon2id profile for passwords set through the pages.
"""
from __future__ import annotations

import sys


def main(instance: str, database_url: str, port: str, clock_file: str) -> None:
    from core import clock
    from core.config import load_settings
    from signatures import kdf
    from tests.conftest import TEST_PASSPHRASE, TEST_SECRET
    from tests.support.shared_clock import FileClock
    from web.server import serve

    config = {"instance_path": instance, "database_url": database_url, "secret_key": TEST_SECRET,
              "server_key_passphrase": TEST_PASSPHRASE}
    kdf.use_parameters(kdf.UNSAFE_FAST_FOR_TESTS)
    clock.set_clock(FileClock(clock_file))
    settings = load_settings(config, environ={})

    def factory():  # type: ignore[no-untyped-def]
        from app import create_app

        return create_app(config)

    serve(settings, app_factory=factory, host="127.0.0.1", port=int(port), workers=2, threads=4)


if __name__ == "__main__":
    main(*sys.argv[1:5])
