"""The ports the bus and its tests pick for servers about to start: free, and outside the
kernel's ephemeral range, where outgoing connections and port 0 take theirs meanwhile."""

from __future__ import annotations

import socket

from bus.sandbox import _ephemeral_start, free_port


def test_a_picked_port_is_free_and_below_the_ephemeral_range() -> None:
    start = _ephemeral_start()
    ports = [free_port() for _ in range(50)]
    assert all(start // 2 <= port < start for port in ports), ports
    assert len(set(ports)) > 40  # picked at random, not one after the other
    with socket.socket() as server:
        server.bind(("127.0.0.1", ports[0]))


def test_a_port_handed_out_is_not_handed_out_again() -> None:
    """A stack picks all its ports before its servers start, and the suite starts hundreds of
    stacks: two picks at random among 16,384 ports met in one stack (a NAV and a Bitrix24
    simulator given one port)."""
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
