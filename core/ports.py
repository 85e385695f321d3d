"""Free TCP ports for servers started on the fly (equipment simulators, test servers).

A port is picked at random below the system's ephemeral range and checked by binding it.
Below that range no outgoing connection can be given the port by the kernel between this
call and the server's own bind (a port from `bind(0)` can be: it comes from the ephemeral
range, and many clients run at once when tests run in parallel). The ports handed out by
this process are not handed out again while unused ones remain.
"""
from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

LOWEST = 10000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_given: set[int] = set()
_lock = threading.Lock()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections (Linux; the IANA range elsewhere)."""
    try:
        low, high = (int(part) for part in _RANGE_FILE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 49152, 65535


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now, outside the ephemeral range."""
    low, _high = ephemeral_range()
    top = low - 1
    if top - LOWEST >= 1000:
        with _lock:
            for _ in range(200):
                port = random.randint(LOWEST, top)
                if port not in _given and _bindable(host, port):
                    _given.add(port)
                    if len(_given) > (top - LOWEST) // 2:
                        _given.clear()
                    return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # no room below the range: the kernel's pick
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
