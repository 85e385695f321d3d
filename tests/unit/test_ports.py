"""Free ports for servers started on the fly: below the ephemeral range, free, not handed out twice."""
import socket

from core import ports


def test_ports_are_free_below_the_ephemeral_range_and_not_repeated():
    low, _high = ports.ephemeral_range()
    given = [ports.free_port() for _ in range(50)]
    assert len(set(given)) == 50
    assert all(ports.LOWEST <= port < low for port in given), given
    with socket.socket() as sock:  # what was given can be listened on
        sock.bind(("127.0.0.1", given[-1]))
        sock.listen()


def test_a_port_in_use_is_never_given(monkeypatch):
    taken, other = ports.free_port(), ports.free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", taken))
        busy.listen()
        picks = iter([taken, other])
        monkeypatch.setattr(ports.random, "randint", lambda a, b: next(picks))
        monkeypatch.setattr(ports, "_given", set())
        assert ports.free_port() == other


def test_without_room_below_the_range_the_kernel_picks(monkeypatch):
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1024, 65535))
    port = ports.free_port()
    assert 1024 <= port <= 65535
