"""`gmp demo`: demo data for trying the product (never on a production database).

    gmp demo seed        demo users, plant tags and demo processes (bpmn.demo.seed), plus each
                         demo user's interface language; writes instance/demo-users.txt
    gmp demo totp USER   a demo user's current TOTP code (demo databases only)
"""
from __future__ import annotations

import click

from bpmn import demo as library_demo
from core import clock
from store.cli import cli_settings
from store.db import Database
from store.uow import UnitOfWork


def set_language(db: Database, user: library_demo.DemoUser) -> None:
    """A demo user's interface language, as the user would choose it (an audited preference)."""
    from web.models import UserPreference

    with UnitOfWork(db) as uow:
        uow.session.add(UserPreference(user_id=user.user_id, language=user.language,
                                       updated_at=clock.isoformat(clock.now())))
        uow.audit("user.language_set", "user", user.user_id, changes=[["language", None, user.language]])
        uow.commit()


def seed(settings):  # type: ignore[no-untyped-def]
    """bpmn.demo.seed with the demo users' languages recorded."""
    return library_demo.seed(settings, set_language=set_language)


@click.group()
def demo() -> None:
    """Demo data for trying the product (never on a production database)."""


@demo.command("seed")
def demo_seed() -> None:
    """Create the demo users (idempotent) and write instance/demo-users.txt."""
    settings = cli_settings()
    rows = seed(settings)
    if not rows:
        click.echo(already_seeded_message(settings))
        return
    lines = [f"password for every demo user: {library_demo.DEMO_PASSWORD}", "user\tname\troles\tTOTP secret"]
    lines += ["\t".join(row) for row in rows]
    path = settings.instance / "demo-users.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(f"demo users created; see {path} (TOTP: `gmp demo totp USER`)")


def already_seeded_message(settings) -> str:  # type: ignore[no-untyped-def]
    """What `demo seed` found in a database that has users already, and what to do about it."""
    from signatures.identities import list_users
    from store.schema import display_url

    db = Database(settings.database_url)
    try:
        with db.session() as session:
            users = [user.user_id for user in list_users(session)]
    finally:
        db.dispose()
    listing = settings.instance / "demo-users.txt"
    demo_ids = {library_demo.DEMO_ADMIN.user_id} | {user.user_id for user in library_demo.DEMO_USERS}
    shown = ", ".join(users[:8]) + (f" and {len(users) - 8} more" if len(users) > 8 else "")
    if demo_ids <= set(users) and listing.exists():
        return (f"demo data already present: {len(users)} user accounts ({shown}); nothing seeded. The demo users' "
                f"password and TOTP secrets are in {listing} (a current code: `gmp demo totp USER`).")
    return (f"nothing seeded: the database {display_url(settings.database_url)} already has {len(users)} user "
            f"account(s) ({shown}), so it is not empty"
            + (" (an administrator made by `gmp admin bootstrap`?)" if not demo_ids <= set(users) else
               f", but {listing} is missing") +
            ". The demo is seeded only into an empty database, never beside real accounts. To try the demo, use a "
            "fresh instance folder and database, e.g. `GMP_INSTANCE_PATH=/tmp/gmp-demo GMP_DEMO=1 make run`; to go "
            "on with this database, create users with `gmp user add` as its administrator.")


@demo.command("totp")
@click.argument("user_id")
def demo_totp(user_id: str) -> None:
    """Print a demo user's current TOTP code."""
    from signatures import totp
    from signatures.models import UserAccount

    settings = cli_settings()
    path = settings.instance / "demo-users.txt"
    if not path.exists():
        raise click.ClickException("not a demo database (no instance/demo-users.txt)")
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            user = session.get(UserAccount, user_id)
            if user is None or not user.totp_secret:
                raise click.ClickException(f"no enrolled user {user_id!r}")
            click.echo(totp.code_at_step(user.totp_secret, totp.current_step(user.totp_secret, clock.now())))
    finally:
        db.dispose()
