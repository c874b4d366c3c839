"""The ports the bus and its tests pick for servers about to start: free, and outside the
kernel's ephemeral range, where outgoing connections and port 0 take theirs meanwhile."""

from __future__ import annotations

import socket
import subprocess
import sys

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


def test_a_port_another_process_was_handed_is_not_handed_out() -> None:
    """The suite's parallel workers pick ports at random from one range: two met on a port, and
    the simulator started second could not bind it."""
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bus.sandbox import free_port; print(*(free_port() for _ in range(400)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs = {int(port) for port in other.stdout.split()}
    ours = {free_port() for _ in range(400)}
    assert len(theirs) == 400
    assert not ours & theirs  # at random, about ten would be shared
