"""`gmp db ...` and `gmp config ...`."""
from __future__ import annotations

import click

from core.config import ConfigError, Settings, load_settings


def cli_settings() -> Settings:
    """Settings for a command: a bad value stops it with the message naming the value."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to the configured database."""
    from store.migrate import current, upgrade

    settings = cli_settings()
    upgrade(settings.database_url)
    click.echo(f"database at revision {current(settings.database_url)}")


@db.command("current")
def db_current() -> None:
    """Show the database's schema revision."""
    from store.migrate import current

    click.echo(current(cli_settings().database_url) or "empty")


@click.group()
def config() -> None:
    """Configuration."""


@config.command("check")
def config_check() -> None:
    """Validate the configuration and print the effective values (secrets hidden)."""
    settings = cli_settings()
    for name in Settings.names():
        value = getattr(settings, name)
        if any(word in name for word in ("secret", "password", "passphrase")) and value:
            value = "***"
        click.echo(f"GMP_{name.upper()}={value}")
