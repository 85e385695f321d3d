"""Equipment connectors: the tag registry, Modbus TCP and OPC UA clients, set-point
writes, engine operators and the plant simulators.

Rule: nothing in connectors/ imports Flask. Other packages call the synchronous
facade (`connectors.service`, `connectors.setpoints`, `connectors.operators`); the
protocol clients run on one background asyncio loop per process (`connectors.runtime`).
"""
