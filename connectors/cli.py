"""`gmp simulate` (the plant simulators) and `gmp tags ...` (the tag registry)."""
from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from core.config import load_settings


@click.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="address the simulators bind")
@click.option("--modbus-port", type=int, default=None, help="Modbus TCP port (default: GMP_MODBUS_PORT)")
@click.option("--opcua-port", type=int, default=None, help="OPC UA port (default: GMP_OPCUA_PORT)")
@click.option("--control-port", type=int, default=None, help="JSON-lines control channel port (off by default)")
@click.option("--opcua-user", multiple=True, metavar="NAME:PASSWORD", help="an OPC UA user (repeatable)")
@click.option("--no-anonymous", is_flag=True, help="refuse anonymous OPC UA sessions")
@click.option("--certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="server certificate (DER or PEM) to offer Basic256Sha256 SignAndEncrypt")
@click.option("--private-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="private key of --certificate")
@click.option("--seed", type=int, default=1, show_default=True, help="seed of the process noise")
@click.option("--no-opcua", is_flag=True, help="run the Modbus TCP server only")
@click.option("--set", "settings_", multiple=True, metavar="POINT=VALUE",
              help="start with this plant value, e.g. scale.load=10.012 (material on the scale); repeatable")
@click.option("--quiet", is_flag=True, help="print nothing when ready")
def simulate(host: str, modbus_port: int | None, opcua_port: int | None, control_port: int | None,
             opcua_user: tuple[str, ...], no_anonymous: bool, certificate: Path | None,
             private_key: Path | None, seed: int, no_opcua: bool, settings_: tuple[str, ...] = (),
             quiet: bool = False) -> None:
    """Run the plant simulators (Modbus TCP and OPC UA) until interrupted."""
    from connectors.errors import SimulatorError
    from connectors.simulator.plant import PlantSimulator

    settings = load_settings()
    users = {}
    for item in opcua_user:
        name, sep, password = item.partition(":")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME:PASSWORD, got {item!r}", param_hint="--opcua-user")
        users[name] = password
    sim = PlantSimulator(host=host, modbus_port=modbus_port or settings.modbus_port,
                         opcua_port=None if no_opcua else (opcua_port or settings.opcua_port),
                         control_port=control_port,
                         seed=seed, opcua_users=users, allow_anonymous=not no_anonymous,
                         certificate=certificate, private_key=private_key)
    initial = [_plant_value(item) for item in settings_]
    sim.start()
    for point, value in initial:
        try:
            sim.set(point, value)
        except SimulatorError as exc:
            sim.stop()
            raise click.BadParameter(str(exc), param_hint="--set") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not quiet:
        click.echo(json.dumps({"ready": True, "modbus": f"{host}:{sim.modbus_port}",
                               "opcua": None if no_opcua else sim.opcua_endpoint,
                               "control": None if control_port is None else f"{host}:{control_port}"}), nl=True)
    try:
        stop.wait()
    finally:
        sim.stop()


def _plant_value(item: str) -> tuple[str, float | bool]:
    """'scale.load=10.012' -> ('scale.load', 10.012); true/false for switches."""
    point, sep, raw = item.partition("=")
    text = raw.strip().lower()
    if not sep or not point.strip():
        raise click.BadParameter(f"expected POINT=VALUE, got {item!r}", param_hint="--set")
    if text in ("true", "false"):
        return point.strip(), text == "true"
    try:
        return point.strip(), float(text)
    except ValueError:
        raise click.BadParameter(f"{item!r}: the value is not a number, true or false", param_hint="--set") from None


# ---------------------------------------------------------------- gmp plant
@click.group()
def plant() -> None:
    """The running plant simulator, through its control channel (what a person does on the plant floor:
    switch a breaker off, close a valve, a gas reading rising)."""


def _control(port: int | None):  # type: ignore[no-untyped-def]
    from connectors.errors import SimulatorError
    from connectors.simulator.control import SimulatorControl

    port = port or load_settings().simulator_control_port
    try:
        return SimulatorControl(port, timeout=5.0)
    except OSError as exc:
        raise click.ClickException(f"the plant simulator's control channel does not answer on 127.0.0.1:{port} "
                                   f"({exc.strerror or exc}); is `gmp run` (or `gmp simulate --control-port {port}`) "
                                   "running?") from None
    except SimulatorError as exc:  # pragma: no cover - the constructor raises OSError only
        raise click.ClickException(str(exc)) from None


@plant.command("set")
@click.argument("items", nargs=-1, required=True, metavar="POINT=VALUE...")
@click.option("--port", type=int, default=None, help="control channel port (default: GMP_SIMULATOR_CONTROL_PORT)")
def plant_set(items: tuple[str, ...], port: int | None) -> None:
    """Set simulator points, e.g. `gmp plant set isolation.mcc_breaker_closed=false gas.lel=12`."""
    from connectors.errors import SimulatorError

    values = [_plant_value(item) for item in items]
    with _control(port) as control:
        for point, value in values:
            try:
                control.command("set", point=point, value=value)
            except SimulatorError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"{point} = {json.dumps(control.command('value', point=point))}")


@plant.command("show")
@click.option("--port", type=int, default=None, help="control channel port (default: GMP_SIMULATOR_CONTROL_PORT)")
def plant_show(port: int | None) -> None:
    """Print every simulator point with its value now."""
    with _control(port) as control:
        for point, value in sorted(control.command("snapshot").items()):
            click.echo(f"{point} = {json.dumps(value)}")


# ---------------------------------------------------------------- gmp tags
def _context() -> tuple[object, object]:
    from store.db import Database

    settings = load_settings()
    return settings, Database(settings.database_url)


def _person(db: object, settings: object, user: str | None):  # type: ignore[no-untyped-def]
    """The person at the terminal: the `gmp login` session, or one opened (password + TOTP) for this command."""
    from signatures.cli_session import person_at_terminal

    return person_at_terminal(db, settings, user)  # type: ignore[arg-type]


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc))


@click.group("tags")
def tags() -> None:
    """The equipment tag registry: import, approve, list, read."""


@tags.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="why the registry changes (change control)")
@click.option("--endpoint", "endpoints", multiple=True, metavar="NAME=URL", help="override an endpoint of the file")
@click.option("--user", help="the engineer importing (authenticated; default: the `gmp login` session)")
def tags_import(path: Path, reason: str, endpoints: tuple[str, ...], user: str | None) -> None:
    """Import a YAML/TOML definition file as a pending registry revision."""
    from connectors import registry
    from core.errors import GmpError
    from store.uow import UnitOfWork

    overrides = {}
    for item in endpoints:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise click.BadParameter(f"expected NAME=URL, got {item!r}", param_hint="--endpoint")
        overrides[name] = url
    settings, db = _context()
    try:
        with _person(db, settings, user) as person:
            with UnitOfWork(db, person.actor) as uow:  # type: ignore[arg-type]
                revision = registry.import_revision(uow, path.read_bytes(), path.name, reason=reason,
                                                    endpoint_overrides=overrides)
                number, count = revision.number, revision.tag_count
                uow.commit()
    except GmpError as exc:
        _fail(exc)
    click.echo(f"registry revision {number}: {count} tags, pending approval by QA")


@tags.command("approve")
@click.argument("number", type=int)
@click.option("--reason", required=True)
@click.option("--user", help="the QA approver (signs with meaning 'approved'; default: the `gmp login` session)")
def tags_approve(number: int, reason: str, user: str | None) -> None:
    """Approve a pending revision by electronic signature; it takes effect at once."""
    from connectors import registry
    from core.errors import GmpError
    from signatures.cli_session import signer_at_terminal
    from store.uow import UnitOfWork

    settings, db = _context()
    try:
        signer = signer_at_terminal(db, settings, user)  # type: ignore[arg-type]
        with UnitOfWork(db, signer.actor) as uow:  # type: ignore[arg-type]
            revision = registry.approve_revision(uow, number, credentials=signer.credentials,  # type: ignore[arg-type]
                                                 settings=settings, reason=reason, auth_session=signer.session_id)
            signature = revision.approval_signature
            uow.commit()
    except GmpError as exc:
        _fail(exc)
    click.echo(f"registry revision {number} approved by {signer.user_id} (signature {signature}); it is now "
               "effective")


@tags.command("reject")
@click.argument("number", type=int)
@click.option("--reason", required=True)
@click.option("--user", help="who rejects (authenticated; default: the `gmp login` session)")
def tags_reject(number: int, reason: str, user: str | None) -> None:
    """Reject a pending revision."""
    from connectors import registry
    from core.errors import GmpError
    from store.uow import UnitOfWork

    settings, db = _context()
    try:
        with _person(db, settings, user) as person:
            with UnitOfWork(db, person.actor) as uow:  # type: ignore[arg-type]
                registry.reject_revision(uow, number, reason=reason)
                uow.commit()
    except GmpError as exc:
        _fail(exc)
    click.echo(f"registry revision {number} rejected")


@tags.command("list")
@click.option("--revision", "number", type=int, default=None, help="a revision's tags (default: the effective ones)")
def tags_list(number: int | None) -> None:
    """List the registry revisions and the tags of one revision."""
    from sqlalchemy import select

    from connectors import registry
    from connectors.models import TagRegistryRevision
    from core.errors import GmpError

    settings, db = _context()
    with db.session() as session:  # type: ignore[attr-defined]
        for rev in session.scalars(select(TagRegistryRevision).order_by(TagRegistryRevision.number)):
            click.echo(f"revision {rev.number}  {rev.status:<10}  {rev.tag_count:>3} tags  {rev.source_name}  "
                       f"imported by {rev.imported_by} {rev.imported_at}"
                       + (f"  decided by {rev.decided_by} {rev.decided_at}" if rev.decided_by else ""))
        try:
            definitions = registry.revision_tags(session, number) if number is not None else \
                sorted(registry.effective_definitions(session).values(), key=lambda t: t.name)
        except GmpError as exc:
            _fail(exc)
    for tag in definitions:
        address = tag.node_id if tag.node_id else f"unit {tag.modbus_unit} {tag.register_type} {tag.address} " \
                                                  f"{tag.data_type.value}/{tag.word_order.value}"
        click.echo(f"{tag.name:<28} {tag.access.value:<10} {tag.endpoint}  {address}  {tag.limits_text()}")


@tags.command("read")
@click.argument("name")
@click.option("--user", help="who captures the value (authenticated; default: the `gmp login` session)")
def tags_read(name: str, user: str | None) -> None:
    """Read a registered tag now and store the value as equipment data."""
    from connectors import service
    from connectors.operators import reading_document
    from core.errors import GmpError
    from store.uow import UnitOfWork

    settings, db = _context()
    try:
        with _person(db, settings, user) as person:
            with UnitOfWork(db, person.actor) as uow:  # type: ignore[arg-type]
                reading = service.read_tag(uow, name, client=service.client_for(settings))
                uow.commit()
    except GmpError as exc:
        _fail(exc)
    click.echo(json.dumps(reading_document(reading)))


@tags.command("write")
@click.argument("name")
@click.argument("value")
@click.option("--reason", required=True, help="why the set-point changes (recorded with the signature)")
@click.option("--user", help="who changes it (signs with meaning 'performed'; default: the `gmp login` session)")
def tags_write(name: str, value: str, reason: str, user: str | None) -> None:
    """Change a set-point: range check, your electronic signature, write, read-back.

    VALUE is in the tag's engineering unit (true/false for a switch). Nothing is sent unless the
    tag is registered and writable, the value is inside its allowed range and the signature is
    given; the write is recorded before it is sent and confirmed by reading the value back.
    """
    from audit.canonical import SYSTEM
    from connectors import setpoints
    from connectors.service import client_for
    from core.errors import GmpError
    from signatures.cli_session import live_session, signer_at_terminal
    from signatures.service import sign
    from store.uow import UnitOfWork

    settings, db = _context()
    try:
        # first the checks that need no signature (registered, writable, in range): nobody signs for nothing
        session_person = live_session(db, settings, touch=False)  # type: ignore[arg-type]
        with UnitOfWork(db, session_person.actor if session_person else SYSTEM) as uow:  # type: ignore[arg-type]
            tag = setpoints.check_request(uow, name, value)  # refusals are recorded, nothing else
            typed = setpoints.parse_value(tag, value)
        click.echo(f"Set-point {name} = {typed} {tag.unit} ({reason}): your signature, meaning 'performed'", err=True)
        signer = signer_at_terminal(db, settings, user)  # type: ignore[arg-type]
        change = setpoints.manual_change_id()
        record = setpoints.SetpointRecord.of(name, typed, setpoints.MANUAL_INSTANCE, change)
        with UnitOfWork(db, signer.actor) as uow:  # type: ignore[arg-type]
            signature = sign(uow, record, setpoints.MEANING, signer.credentials, signer.session_id,  # type: ignore[arg-type]
                             settings, reason=reason)  # type: ignore[arg-type]
            signature_id = str(signature.seq)
            uow.commit()
        result = setpoints.write_setpoint(db, settings, signer.actor, client_for(settings), name, typed,  # type: ignore[arg-type]
                                          instance_id=setpoints.MANUAL_INSTANCE, task_id=change,
                                          signature_id=signature_id)
    except GmpError as exc:
        _fail(exc)
    click.echo(f"{name} = {result.readback.value} {result.readback.unit}: written and confirmed by read-back "
               f"(write {result.write_id}, signature {signature_id})")


@tags.command("unconfirmed")
def tags_unconfirmed() -> None:
    """Set-point writes requested and never confirmed (e.g. interrupted by a crash)."""
    from connectors.setpoints import unconfirmed_writes

    _settings, db = _context()
    with db.session() as session:  # type: ignore[attr-defined]
        pending = unconfirmed_writes(session)
    for w in pending:
        click.echo(f"{w.write_id}  {w.tag} = {w.value} {w.unit}  instance {w.instance_id} task {w.task_id}  "
                   f"requested by {w.requested_by} at {w.requested_at}")
    click.echo(f"{len(pending)} unconfirmed write(s)")
