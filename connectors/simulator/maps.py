"""Where each simulator point appears on the wire: Modbus units/registers and OPC UA nodes.

`connectors/plant_tags.yaml` registers these addresses as tags; a test checks the two agree.
"""
from __future__ import annotations

from dataclasses import dataclass

from connectors.codec import DataType, WordOrder


@dataclass(frozen=True)
class ModbusPoint:
    point: str
    unit: int
    register_type: str  # holding | input | coil | discrete_input
    address: int
    data_type: DataType
    word_order: WordOrder = WordOrder.BIG
    scale: float = 1.0  # engineering value = raw * scale


B, L = WordOrder.BIG, WordOrder.LITTLE
MODBUS_POINTS: tuple[ModbusPoint, ...] = (
    # unit 1: dispensing scale
    ModbusPoint("scale.net_weight", 1, "input", 0, DataType.FLOAT32, B),
    ModbusPoint("scale.net_weight", 1, "input", 2, DataType.INT32, B, 0.001),  # grams
    ModbusPoint("scale.stable", 1, "discrete_input", 0, DataType.BOOL),
    # unit 2: granulator / fluid-bed dryer PLC (CDAB word order)
    ModbusPoint("dryer.inlet_temp", 2, "input", 0, DataType.FLOAT32, L),
    ModbusPoint("dryer.product_temp", 2, "input", 2, DataType.FLOAT32, L),
    ModbusPoint("dryer.impeller_speed", 2, "input", 4, DataType.UINT16),
    ModbusPoint("dryer.inlet_temp_sp", 2, "holding", 0, DataType.FLOAT32, L),
    ModbusPoint("dryer.impeller_speed_sp", 2, "holding", 2, DataType.UINT16),
    # unit 3: energy isolation points
    ModbusPoint("isolation.breaker_closed", 3, "coil", 0, DataType.BOOL),
    ModbusPoint("isolation.valve_open", 3, "coil", 1, DataType.BOOL),
    ModbusPoint("isolation.mcc_breaker_closed", 3, "coil", 2, DataType.BOOL),
    ModbusPoint("isolation.n2_valve_open", 3, "coil", 3, DataType.BOOL),
    # unit 4: gas detector
    ModbusPoint("gas.o2", 4, "input", 0, DataType.UINT16, B, 0.01),
    ModbusPoint("gas.lel", 4, "input", 1, DataType.INT16, B, 0.1),
    ModbusPoint("gas.h2s", 4, "input", 2, DataType.UINT16, B, 0.1),
    ModbusPoint("gas.co", 4, "input", 3, DataType.UINT16, B),
    # unit 5: calibration bench (pressure gauge, temperature probe)
    ModbusPoint("cal.pressure_gauge", 5, "input", 0, DataType.FLOAT32, B),
    ModbusPoint("cal.temp_probe", 5, "input", 2, DataType.INT16, B, 0.01),
    ModbusPoint("cal.temp_probe_offset", 5, "holding", 0, DataType.INT16, B, 0.01),
    ModbusPoint("cal.pressure_gauge_offset", 5, "holding", 1, DataType.FLOAT32, B),
    # unit 5 too: PT-102 on the bench with the pressure calibrator REF-P-01
    ModbusPoint("cal.dp_transmitter", 5, "input", 4, DataType.FLOAT32, B),
    ModbusPoint("cal.dp_reference", 5, "input", 6, DataType.FLOAT32, B),
    ModbusPoint("cal.dp_transmitter_offset", 5, "holding", 3, DataType.FLOAT32, B),
)

OPCUA_NAMESPACE = "urn:gmp:plant-simulator"
OPCUA_NODES: dict[str, str] = {  # point -> string identifier in namespace 2
    "scale.net_weight": "Scale01.NetWeight",
    "scale.stable": "Scale01.Stable",
    "dryer.inlet_temp": "FBD01.InletTemperature",
    "dryer.product_temp": "FBD01.ProductTemperature",
    "dryer.impeller_speed": "FBD01.ImpellerSpeed",
    "dryer.inlet_temp_sp": "FBD01.InletTemperatureSetpoint",
    "dryer.impeller_speed_sp": "FBD01.ImpellerSpeedSetpoint",
    "isolation.breaker_closed": "ISO01.BreakerClosed",
    "isolation.valve_open": "ISO01.ValveOpen",
    "isolation.mcc_breaker_closed": "ISO02.BreakerClosed",
    "isolation.n2_valve_open": "ISO02.ValveOpen",
    "gas.o2": "GAS01.Oxygen",
    "gas.lel": "GAS01.LEL",
    "gas.h2s": "GAS01.H2S",
    "gas.co": "GAS01.CO",
    "cal.pressure_gauge": "PG01.Pressure",
    "cal.temp_probe": "TP01.Temperature",
    "cal.temp_probe_offset": "TP01.Offset",
}


def opcua_node_id(point: str, namespace_index: int = 2) -> str:
    return f"ns={namespace_index};s={OPCUA_NODES[point]}"
