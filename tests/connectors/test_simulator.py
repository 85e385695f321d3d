"""The plant model and `gmp simulate` with its control channel."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.client import ClientOptions, EquipmentClient
from connectors.errors import SimulatorError
from connectors.simulator.control import SimulatorControl
from connectors.simulator.model import PlantModel
from connectors.simulator.plant import free_port
from connectors.tags import load_definition_file
from tests.connectors.conftest import PLANT_TAGS

ROOT = Path(__file__).resolve().parents[2]


def test_process_values_follow_their_set_points_with_lag():
    model = PlantModel(noise=False)
    model.set("dryer.inlet_temp_sp", 70.0)
    model.step(1.0)
    after_one = model.get("dryer.inlet_temp")
    assert 60.0 < after_one < 70.0
    for _ in range(100):
        model.step(1.0)
    assert model.get("dryer.inlet_temp") == pytest.approx(70.0, abs=0.01)
    assert model.get("dryer.product_temp") == pytest.approx(52.0, abs=0.5)  # lags the inlet


def test_scale_settles_and_reports_stable():
    model = PlantModel(noise=False)
    model.set("scale.load", 25.0)
    model.step(0.1)
    assert model.get("scale.stable") is False
    for _ in range(50):
        model.step(0.1)
    assert model.get("scale.net_weight") == 25.0 and model.get("scale.stable") is True


def test_calibration_offset_makes_the_instrument_read_wrong():
    model = PlantModel(noise=False)
    model.set("cal.temp_reference", 100.0)
    assert model.get("cal.temp_probe") == 100.0
    model.write("cal.temp_probe_offset", 0.8)
    assert model.get("cal.temp_probe") == 100.8


def test_force_holds_a_value_until_release_and_an_excursion_ends_by_itself():
    model = PlantModel(noise=False)
    model.force("gas.lel", 25.0)
    model.step(1.0)
    assert model.get("gas.lel") == 25.0
    model.release("gas.lel")
    assert model.get("gas.lel") == 0.0
    model.force("gas.o2", 17.0, seconds=0.0)
    model.step(0.1)
    assert model.get("gas.o2") == 20.9


def test_locked_points_ignore_writes_and_bad_commands_are_refused():
    model = PlantModel(noise=False)
    model.lock_writes("dryer.inlet_temp_sp")
    assert model.write("dryer.inlet_temp_sp", 75.0) is False
    assert model.get("dryer.inlet_temp_sp") == 60.0
    with pytest.raises(SimulatorError, match="simulator point gas.o2 is not writable"):
        model.write("gas.o2", 1.0)
    with pytest.raises(SimulatorError, match="unknown simulator point 'reactor.level'"):
        model.force("reactor.level", 1.0)


@pytest.mark.req("URS-CON-008")
def test_gmp_simulate_runs_both_servers_and_obeys_its_control_channel():
    modbus, control_port = free_port(), free_port()
    process = subprocess.Popen([sys.executable, "-m", "cli", "simulate", "--modbus-port", str(modbus),
                                "--no-opcua", "--control-port", str(control_port)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(process.stdout.readline())
        assert ready["ready"] and ready["modbus"] == f"127.0.0.1:{modbus}" and ready["opcua"] is None
        tags, _ = load_definition_file(PLANT_TAGS, {"plant-modbus": f"modbus://127.0.0.1:{modbus}"})
        by_name = {t.name: t for t in tags}
        client = EquipmentClient(ClientOptions(timeout=1.0))
        with SimulatorControl(control_port) as control:
            control.command("force", point="gas.lel", value=12.5)
            assert client.read(by_name["GAS-01.lel"]).value == pytest.approx(12.5)
            assert control.command("value", point="gas.lel") == 12.5
            with pytest.raises(SimulatorError, match="simulator refused explode: unknown control command 'explode'"):
                control.command("explode")
            with pytest.raises(SimulatorError, match="unknown simulator point 'x'"):
                control.command("force", point="x", value=1)
            control.command("disconnect", protocol="modbus")
            from connectors.errors import DeviceUnavailable
            with pytest.raises(DeviceUnavailable, match=r"tag GAS-01.lel: .*modbus://127.0.0.1"):
                client.read(by_name["GAS-01.lel"])
            control.command("reconnect", protocol="modbus")
            assert client.read(by_name["GAS-01.lel"]).value == pytest.approx(12.5)
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


@pytest.mark.req("URS-CON-008")
def test_gmp_simulate_starts_with_material_on_the_scale():
    """`gmp run` starts the demo plant with `--set scale.load=10.012`: the demo weighing reads a real weight."""
    import time

    modbus = free_port()
    process = subprocess.Popen([sys.executable, "-m", "cli", "simulate", "--modbus-port", str(modbus), "--no-opcua",
                                "--set", "scale.load=10.012"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert json.loads(process.stdout.readline())["ready"]
        tags, _ = load_definition_file(PLANT_TAGS, {"plant-modbus": f"modbus://127.0.0.1:{modbus}"})
        scale = {t.name: t for t in tags}["SCALE-01.net_weight"]
        client = EquipmentClient(ClientOptions(timeout=1.0))
        deadline = time.monotonic() + 20
        value = client.read(scale).value
        while abs(value - 10.012) > 0.001 and time.monotonic() < deadline:  # the scale settles (first-order lag)
            value = client.read(scale).value
        assert value == pytest.approx(10.012, abs=0.001)
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("item,message", [
    ("scale.load", "expected POINT=VALUE"), ("scale.load=heavy", "is not a number, true or false"),
    ("reactor.level=1", "unknown simulator point 'reactor.level'")])
def test_gmp_simulate_refuses_a_malformed_plant_value(item, message):
    from click.testing import CliRunner

    from cli import gmp
    result = CliRunner().invoke(gmp, ["simulate", "--no-opcua", "--modbus-port", str(free_port()), "--set", item])
    assert result.exit_code == 2 and message in result.output


def test_gmp_simulate_refuses_a_malformed_user_before_starting():
    from click.testing import CliRunner

    from cli import gmp
    result = CliRunner().invoke(gmp, ["simulate", "--opcua-user", "no-password-here"])
    assert result.exit_code == 2 and "expected NAME:PASSWORD" in result.output


def test_the_control_channel_refuses_unknown_protocols():
    from connectors.simulator.plant import PlantSimulator
    sim = PlantSimulator(modbus_port=free_port(), opcua_port=None)
    with pytest.raises(SimulatorError, match="the simulator is not running"):
        sim.force("gas.o2", 1.0)
    with sim:
        with pytest.raises(SimulatorError, match="unknown protocol 'opcua'"):
            sim.disconnect("opcua")
        with pytest.raises(SimulatorError, match="freeze is available for modbus only"):
            sim.freeze("opcua")
