"""`gmp plant set|show`: the running simulator's points set through its control channel (what a person
does on the plant floor in the demo: switch a breaker off, a gas reading rising)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from connectors.cli import plant
from connectors.simulator.plant import PlantSimulator, free_port


@pytest.fixture
def controlled():  # type: ignore[no-untyped-def]
    sim = PlantSimulator(modbus_port=free_port(), opcua_port=None, control_port=free_port(), noise=False).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.mark.req("URS-PTW-001")
def test_plant_set_switches_points_and_show_lists_them(controlled):
    port = str(controlled.control_port)
    result = CliRunner().invoke(plant, ["set", "--port", port, "isolation.mcc_breaker_closed=false", "gas.lel=12.5"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["isolation.mcc_breaker_closed = false", "gas.lel = 12.5"]
    assert controlled.value("isolation.mcc_breaker_closed") is False and controlled.value("gas.lel") == 12.5
    shown = CliRunner().invoke(plant, ["show", "--port", port])
    assert shown.exit_code == 0 and "isolation.n2_valve_open = true" in shown.output


def test_plant_set_refuses_an_unknown_point_a_bad_value_and_a_silent_channel(controlled):
    port = str(controlled.control_port)
    unknown = CliRunner().invoke(plant, ["set", "--port", port, "isolation.nothing=false"])
    assert unknown.exit_code == 1 and "unknown simulator point 'isolation.nothing'" in unknown.output
    bad = CliRunner().invoke(plant, ["set", "--port", port, "gas.lel=high"])
    assert bad.exit_code == 2 and "the value is not a number, true or false" in bad.output
    silent = CliRunner().invoke(plant, ["set", "--port", str(free_port()), "gas.lel=1"])
    assert silent.exit_code == 1 and "control channel does not answer" in silent.output
