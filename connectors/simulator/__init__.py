"""The plant simulator: one process model served over Modbus TCP and OPC UA.

`PlantSimulator` runs in-process (tests); `gmp simulate` runs it as a command with a
small JSON-lines control channel (`control.py`) so another process can script it.
"""
from connectors.simulator.model import PlantModel
from connectors.simulator.plant import PlantSimulator

__all__ = ["PlantModel", "PlantSimulator"]
