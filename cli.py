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
    "login": "signatures.cli_session:login_command",
    "logout": "signatures.cli_session:logout_command",
    "whoami": "signatures.cli_session:whoami_command",
    "records": "web.records_cli:records",
    "role": "signatures.cli:role",
    "scheduler": "engine.scheduler_cli:scheduler",
    "process": "engine.cli:process",
    "simulate": "connectors.cli:simulate",
    "tags": "connectors.cli:tags",
    "plant": "connectors.cli:plant",
    "master": "masterdata.cli:master",
    "demo": "web.demo_cli:demo",
    "serve": "web.cli:serve",
    "run": "web.cli:run",
    "notify": "notifications.cli:notify",
    "api": "web.api.cli:api",
    "config": "store.cli:config",
    "validation-pack": "validation_pack.cli:validation_pack",
    "oq": "validation_pack.cli:oq",
    "report": "web.report_cli:report",
    "archive": "web.archive_cli:archive",
}


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a failure on the database or a product error becomes a clear message (exit 1)."""
        from sqlalchemy.exc import DBAPIError

        from audit.chain import HeadMissing

        try:
            return super().invoke(ctx)
        except (DBAPIError, HeadMissing, *_driver_errors()) as exc:
            raise click.ClickException(_database_problem(exc)) from exc
        except GmpError as exc:
            raise click.ClickException(str(exc)) from exc

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in START_NEEDS_CURRENT_SCHEMA and not any(arg in ("--help", "-h") for arg in rest):
            _require_current_schema()
        return name, command, rest

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


# Long-running commands check the schema before they start (they would otherwise fail on every request or poll);
# every other command is diagnosed when it fails on the database.
START_NEEDS_CURRENT_SCHEMA = {"serve", "scheduler", "notify"}


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The database drivers' own error roots (raised where code uses the DBAPI connection directly)."""
    import sqlite3

    errors: list[type[BaseException]] = [sqlite3.Error]
    psycopg = optional_module("psycopg")
    if psycopg is not None:
        errors.append(psycopg.Error)
    return tuple(errors)


def _require_current_schema() -> None:
    from core.config import ConfigError, load_settings
    from store.schema import schema_state

    try:
        state = schema_state(load_settings().database_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if not state.is_current:
        raise click.ClickException(state.advice())


def _database_problem(exc: BaseException) -> str:
    """What to do about a command that failed on the database: migrate, or what the database said."""
    from core.config import ConfigError, load_settings
    from store.schema import schema_state

    try:
        state = schema_state(load_settings().database_url)
    except ConfigError as config_error:
        return str(config_error)
    if not state.is_current:
        return state.advice()
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return f"the database refused the command: {detail}"


@click.group(cls=LazyGroup)
@click.pass_context
def gmp(ctx: click.Context) -> None:
    """GMP workflow engine: processes, signatures, audit trail, equipment, master data."""
    ctx.obj = install_runtime()  # commands reach the runtime (e.g. its change catalogue) as ctx.find_root().obj


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
