"""The simulated plant: process values, set-points, states, and scripted faults.

Pure Python and synchronous: the servers read it, `step(dt)` moves it on. Process
values follow their set-points with a first-order lag and a little noise; a forced
value holds until it is released (an excursion is a force with an end time).
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Callable

from connectors.errors import SimulatorError


@dataclass(frozen=True)
class Point:
    name: str
    unit: str
    initial: float | bool
    writable: bool = False  # set-points and offsets the connector may write
    description: str = ""

    @property
    def is_bool(self) -> bool:
        return isinstance(self.initial, bool)


POINTS: tuple[Point, ...] = (
    Point("scale.net_weight", "kg", 0.0, description="dispensing scale, net weight"),
    Point("scale.stable", "", True, description="dispensing scale, weight stable"),
    Point("scale.load", "kg", 0.0, description="mass on the pan (scripted by tests)"),
    Point("dryer.inlet_temp_sp", "degC", 60.0, writable=True, description="inlet air temperature set-point"),
    Point("dryer.inlet_temp", "degC", 60.0, description="inlet air temperature"),
    Point("dryer.product_temp", "degC", 42.0, description="product bed temperature"),
    Point("dryer.impeller_speed_sp", "rpm", 300.0, writable=True, description="granulator impeller speed set-point"),
    Point("dryer.impeller_speed", "rpm", 300.0, description="granulator impeller speed"),
    Point("isolation.breaker_closed", "", True, description="main breaker closed (energised)"),
    Point("isolation.valve_open", "", True, writable=True, description="steam supply valve open (remote-operated)"),
    Point("gas.o2", "%", 20.9, description="oxygen concentration"),
    Point("gas.lel", "%LEL", 0.0, description="flammables, percent of the lower explosive limit"),
    Point("gas.h2s", "ppm", 0.0, description="hydrogen sulphide"),
    Point("gas.co", "ppm", 0.0, description="carbon monoxide"),
    Point("isolation.mcc_breaker_closed", "", True, description="vessel V-101 agitator MCC breaker closed (energised)"),
    Point("isolation.n2_valve_open", "", True, description="vessel V-101 nitrogen inlet valve open"),
    Point("cal.pressure_reference", "bar", 2.0, description="reference pressure applied to the gauge"),
    Point("cal.pressure_gauge", "bar", 2.0, description="pressure gauge under calibration, reading"),
    Point("cal.pressure_gauge_offset", "bar", 0.0, writable=True, description="pressure gauge zero offset"),
    Point("cal.temp_reference", "degC", 25.0, description="reference bath temperature"),
    Point("cal.temp_probe", "degC", 25.0, description="temperature probe under calibration, reading"),
    Point("cal.temp_probe_offset", "degC", 0.0, writable=True, description="temperature probe offset"),
    Point("cal.dp_reference", "Pa", 0.0, description="differential pressure applied by the pressure calibrator "
          "(reference standard REF-P-01 reads it)"),
    Point("cal.dp_transmitter", "Pa", 0.0, description="filter differential pressure transmitter PT-102, reading"),
    Point("cal.dp_transmitter_offset", "Pa", 0.0, writable=True,
          description="PT-102 offset (settable: an instrument drifting out of tolerance)"),
)
POINT_BY_NAME = {p.name: p for p in POINTS}

# time constants (seconds) of the first-order lags
TAU = {"dryer.inlet_temp": 4.0, "dryer.product_temp": 15.0, "dryer.impeller_speed": 1.0, "scale.net_weight": 0.3}
NOISE = {"dryer.inlet_temp": 0.05, "dryer.product_temp": 0.03, "dryer.impeller_speed": 0.5, "gas.o2": 0.01}


class PlantModel:
    """State of the simulated plant. Not thread-safe: one owner loop calls it."""

    def __init__(self, seed: int = 1, noise: bool = True) -> None:
        self._rng = random.Random(seed)
        self.noise = noise
        self.values: dict[str, float | bool] = {p.name: p.initial for p in POINTS}
        self.forced: dict[str, tuple[float | bool, float | None]] = {}  # name -> (value, until monotonic)
        self.write_locked: set[str] = set()
        self.listeners: list[Callable[[str, float | bool], None]] = []

    # ------------------------------------------------------------ reading
    def get(self, name: str) -> float | bool:
        self._require(name)
        forced = self.forced.get(name)
        if forced is not None:
            return forced[0]
        return self.values[name]

    def snapshot(self) -> dict[str, float | bool]:
        return {name: self.get(name) for name in self.values}

    # ------------------------------------------------------------ scripting
    def set(self, name: str, value: float | bool) -> None:
        """Change a value as the plant would (a set-point, the load on the scale, a state)."""
        point = self._require(name)
        self.values[name] = bool(value) if point.is_bool else float(value)
        self._derive()

    def write(self, name: str, value: float | bool) -> bool:
        """A write from a client. Ignored (returns False) while the point is write-locked."""
        point = self._require(name)
        if not point.writable:
            raise SimulatorError(f"simulator point {name} is not writable")
        if name in self.write_locked:
            return False
        self.set(name, value)
        return True

    def force(self, name: str, value: float | bool, seconds: float | None = None) -> None:
        """Hold a value (an excursion when `seconds` is given) until released."""
        point = self._require(name)
        value = bool(value) if point.is_bool else float(value)
        self.forced[name] = (value, None if seconds is None else time.monotonic() + seconds)

    def release(self, name: str | None = None) -> None:
        if name is None:
            self.forced.clear()
        else:
            self._require(name)
            self.forced.pop(name, None)

    def lock_writes(self, name: str, locked: bool = True) -> None:
        """While locked the device acknowledges writes to `name` but keeps its value."""
        self._require(name)
        (self.write_locked.add if locked else self.write_locked.discard)(name)

    # ------------------------------------------------------------ dynamics
    def step(self, dt: float) -> None:
        now = time.monotonic()
        for name, (_value, until) in list(self.forced.items()):
            if until is not None and now >= until:
                del self.forced[name]
        v = self.values
        self._lag("dryer.inlet_temp", float(v["dryer.inlet_temp_sp"]), dt)
        self._lag("dryer.product_temp", float(self.get("dryer.inlet_temp")) - 18.0, dt)
        self._lag("dryer.impeller_speed", float(v["dryer.impeller_speed_sp"]), dt)
        target = float(v["scale.load"])
        self._lag("scale.net_weight", target, dt, snap=0.00005)
        v["scale.stable"] = abs(float(v["scale.net_weight"]) - target) < 0.0005
        if self.noise:
            v["gas.o2"] = 20.9 + self._rng.gauss(0.0, NOISE["gas.o2"])
        self._derive()

    def _lag(self, name: str, target: float, dt: float, snap: float = 0.0) -> None:
        current = float(self.values[name])
        alpha = 1.0 - math.exp(-dt / TAU[name])
        value = current + (target - current) * alpha
        if snap and abs(target - value) < snap:
            value = target
        if self.noise and name in NOISE:
            value += self._rng.gauss(0.0, NOISE[name]) * math.sqrt(min(dt, 1.0))
        self.values[name] = value

    def _derive(self) -> None:
        v = self.values
        v["cal.pressure_gauge"] = float(v["cal.pressure_reference"]) + float(v["cal.pressure_gauge_offset"])
        v["cal.temp_probe"] = float(v["cal.temp_reference"]) + float(v["cal.temp_probe_offset"])
        v["cal.dp_transmitter"] = float(v["cal.dp_reference"]) + float(v["cal.dp_transmitter_offset"])

    @staticmethod
    def _require(name: str) -> Point:
        point = POINT_BY_NAME.get(name)
        if point is None:
            raise SimulatorError(f"unknown simulator point {name!r}")
        return point
