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
def simulate(host: str, modbus_port: int | None, opcua_port: int | None, control_port: int | None,
             opcua_user: tuple[str, ...], no_anonymous: bool, certificate: Path | None,
             private_key: Path | None, seed: int, no_opcua: bool) -> None:
    """Run the plant simulators (Modbus TCP and OPC UA) until interrupted."""
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
    sim.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(json.dumps({"ready": True, "modbus": f"{host}:{sim.modbus_port}", "opcua": None if no_opcua else sim.opcua_endpoint,
                           "control": None if control_port is None else f"{host}:{control_port}"}), nl=True)
    try:
        stop.wait()
    finally:
        sim.stop()
