"""The plant over OPC UA: one variable per point in namespace urn:gmp:plant-simulator.

Client writes to writable variables go to the plant model (ignored while the point
is write-locked: the device acknowledges and keeps its value); the simulator pushes
model values to the variables, which drives data-change notifications.
`stop_listening()`/`listen()` drop every connection and come back without the
~1.3 s address-space initialisation.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.binary_server_asyncio import BinaryServer

from connectors.simulator.maps import OPCUA_NAMESPACE, OPCUA_NODES
from connectors.simulator.model import POINT_BY_NAME, PlantModel

logging.getLogger("asyncua").setLevel(logging.ERROR)
APPLICATION_URI = "urn:gmp:plant-simulator:server"  # namespace 1; the plant namespace is 2 (unless extra ones)


class _Users:
    """Anonymous (when allowed) or username/password from a fixed table."""

    def __init__(self, users: dict[str, str], allow_anonymous: bool) -> None:
        self.users = users
        self.allow_anonymous = allow_anonymous

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return User(role=UserRole.User) if self.allow_anonymous else None
        if self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class OpcUaSimulator:
    def __init__(self, model: PlantModel, host: str, port: int, *, users: dict[str, str] | None = None,
                 allow_anonymous: bool = True, certificate: Path | None = None,
                 private_key: Path | None = None, extra_namespaces: tuple[str, ...] = ()) -> None:
        self.model = model
        self.host = host
        self.port = port
        self.endpoint = f"opc.tcp://{host}:{port}/gmp/plant"
        self._users = _Users(dict(users or {}), allow_anonymous)
        self.certificate = certificate
        self.private_key = private_key
        self.extra_namespaces = tuple(extra_namespaces)  # registered before the plant's: moves its index
        self.namespace_index: int | None = None
        self.server: Server | None = None
        self.nodes: dict[str, ua.NodeId] = {}
        self._pushed: dict[str, Any] = {}
        self._pending: dict[ua.NodeId, ua.DataValue] = {}
        self.listening = False

    async def start(self) -> None:
        server = Server(user_manager=self._users)  # type: ignore[arg-type]
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("GMP plant simulator")
        await server.set_application_uri(APPLICATION_URI)
        policies = [ua.SecurityPolicyType.NoSecurity]
        if self.certificate and self.private_key:
            await server.load_certificate(str(self.certificate))
            await server.load_private_key(str(self.private_key))
            policies = [ua.SecurityPolicyType.NoSecurity, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        server.set_security_policy(policies)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self._users.allow_anonymous:
            tokens.insert(0, ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        for uri in self.extra_namespaces:
            await server.register_namespace(uri)
        ns = self.namespace_index = await server.register_namespace(OPCUA_NAMESPACE)
        objects = server.get_objects_node()
        folders: dict[str, Any] = {}
        for point_name, identifier in OPCUA_NODES.items():
            equipment, variable = identifier.split(".", 1)
            if equipment not in folders:
                folders[equipment] = await objects.add_object(ua.NodeId(equipment, ns), ua.QualifiedName(equipment, ns))
            point = POINT_BY_NAME[point_name]
            value = self.model.get(point_name)
            variant = ua.Variant(bool(value), ua.VariantType.Boolean) if point.is_bool else \
                ua.Variant(float(value), ua.VariantType.Double)
            node = await folders[equipment].add_variable(ua.NodeId(identifier, ns), ua.QualifiedName(variable, ns),
                                                         variant)
            if point.writable:
                await node.set_writable()
            self.nodes[point_name] = node.nodeid
            self._pushed[point_name] = value
            server.set_attribute_value_setter(node.nodeid, self._setter(point_name))
        await server.start()
        self.server = server
        self.listening = True

    def _setter(self, point_name: str) -> Any:
        def setter(node: Any, attr: ua.AttributeIds, value: ua.DataValue) -> None:
            attribute = node.attributes[attr]
            if self._pending.get(node.nodeid) is value:  # our own push
                attribute.value = value
                return
            point = POINT_BY_NAME[point_name]
            if point.writable and self.model.write(point_name, value.Value.Value):
                # a device stamps what it takes: a client's write rarely carries a source timestamp, and
                # other clients must still see when the value changed
                now = datetime.now(timezone.utc)
                attribute.value = ua.DataValue(value.Value, StatusCode=value.StatusCode,
                                               SourceTimestamp=value.SourceTimestamp or now, ServerTimestamp=now)
                self._pushed[point_name] = self.model.get(point_name)
            # a write-locked point keeps its value: the device acknowledged but did not act
        return setter

    async def push(self) -> None:
        """Copy changed model values to the variables (notifications follow)."""
        if self.server is None:
            return
        stamp = datetime.now(timezone.utc)
        for point_name, nodeid in self.nodes.items():
            value = self.model.get(point_name)
            if self._pushed.get(point_name) == value:
                continue
            point = POINT_BY_NAME[point_name]
            variant = ua.Variant(bool(value), ua.VariantType.Boolean) if point.is_bool else \
                ua.Variant(float(value), ua.VariantType.Double)
            dv = ua.DataValue(variant, SourceTimestamp=stamp, ServerTimestamp=stamp)
            self._pending[nodeid] = dv
            try:
                await self.server.write_attribute_value(nodeid, dv)
            finally:
                self._pending.pop(nodeid, None)
            self._pushed[point_name] = value

    async def stop_listening(self) -> None:
        """Drop every client connection and stop accepting new ones (the server keeps its state)."""
        if self.server is not None and self.listening:
            await self.server.bserver.stop()
            self.listening = False

    async def listen(self) -> None:
        if self.server is not None and not self.listening:
            server = self.server
            bserver = BinaryServer(server.iserver, self.host, self.port, server.limits)
            bserver.set_policies(server._policies)
            await bserver.start()
            server.bserver = bserver
            self.listening = True

    async def stop(self) -> None:
        if self.server is not None:
            if not self.listening:
                await self.listen()  # Server.stop expects a live binary server
            await self.server.stop()
            self.server = None
            self.listening = False
