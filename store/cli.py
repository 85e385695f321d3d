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
    """Apply all migrations, verifying that every record and the audit trail are unchanged (Annex 11 §4.8)."""
    from store.verified_upgrade import MigrationNotVerified, verified_upgrade

    settings = cli_settings()
    try:
        report = verified_upgrade(settings.database_url)
    except MigrationNotVerified as exc:
        for difference in exc.report.differences:
            click.echo(f"  {difference}", err=True)
        raise click.ClickException(str(exc)) from exc
    if report.from_revision not in (None, report.to_revision):
        records = sum(t.rows for t in report.tables.values())
        click.echo(f"verified: {records} records in {len(report.tables)} tables and "
                   f"{report.trail_before.get('entries', 0)} audit entries identical before and after "
                   f"(upgrade {report.from_revision} -> {report.to_revision}, recorded in the audit trail)")
    click.echo(f"database at revision {report.to_revision}")


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
