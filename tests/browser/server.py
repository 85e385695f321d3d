"""The production web server (web.server: gunicorn, several worker processes) as the browser tests run it.

    python -m tests.browser.server INSTANCE DATABASE_URL PORT CLOCK_FILE [RUNTIME_HOOK]

The same server and application as `gmp serve`, with test-only settings made here, in the
test harness: the test's shared clock (tests.support.shared_clock), the cheap argon2id
profile for passwords set through the pages and, with RUNTIME_HOOK ("module:function"),
the test's own additions to the application's engine runtime (e.g. a test gate): the
function gets the runtime from the library's install step before it is frozen.
"""
from __future__ import annotations

import sys


def main(instance: str, database_url: str, port: str, clock_file: str, runtime_hook: str = "") -> None:
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

        if not runtime_hook:
            return create_app(config)
        import importlib

        from bpmn.glue import install

        module, _, function = runtime_hook.partition(":")
        runtime = install(settings=settings, freeze=False)
        getattr(importlib.import_module(module), function)(runtime)
        return create_app(config, runtime=runtime.freeze())

    serve(settings, app_factory=factory, host="127.0.0.1", port=int(port), workers=2, threads=4)


if __name__ == "__main__":
    main(*sys.argv[1:6])
