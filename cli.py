"""The `gmp` command. Each package contributes its commands from its own `cli` module.

Commands load configuration like the web application does (defaults, instance file,
GMP_* environment) and work through the same services and units of work.
"""
from __future__ import annotations

import sys
from typing import Any

import click

from core.errors import GmpError
from core.modules import optional_module

# name -> "module:attribute"; a package that is not installed simply adds nothing.
COMMANDS = {
    "db": "store.cli:db",
    "audit": "audit.cli:audit",
    "backup": "audit.cli_backup:backup",
    "restore": "audit.cli_backup:restore",
    "admin": "signatures.cli:admin",
    "user": "signatures.cli:user",
    "role": "signatures.cli:role",
    "scheduler": "engine.scheduler_cli:scheduler",
    "process": "engine.cli:process",
    "simulate": "connectors.cli:simulate",
    "tags": "connectors.cli:tags",
    "demo": "web.demo_cli:demo",
    "serve": "web.cli:serve",
    "run": "web.cli:run",
    "notify": "web.notify_cli:notify",
    "api": "web.api.cli:api",
    "config": "store.cli:config",
    "validation-pack": "validation_pack.cli:validation_pack",
    "oq": "validation_pack.cli:oq",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        module = optional_module(module_name)
        return getattr(module, attribute, None) if module is not None else None


@click.group(cls=LazyGroup)
def gmp() -> None:
    """GMP workflow engine: processes, signatures, audit trail, equipment."""
    install_runtime()


def install_runtime() -> Any:
    """The engine runtime of this command's process (the engine's and the process library's
    parts), current for the rest of the process; None if the library is not installed."""
    glue = optional_module("bpmn.glue")
    if glue is None:
        return None
    from engine.runtime import activate

    runtime = glue.install()
    activate(runtime)
    return runtime


def main(argv: list[str] | None = None) -> Any:
    try:
        return gmp.main(args=argv, prog_name="gmp", standalone_mode=True)
    except GmpError as exc:  # pragma: no cover - click's standalone mode exits first
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
