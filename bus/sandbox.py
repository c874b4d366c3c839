"""The bundled simulators as a deployment: where each listens, and the settings that reach them.

``bus up`` and the end-to-end tests both run the bus against the simulators; this module is the one
place that knows their addresses, credentials and how to subscribe the bus to their events.
"""

from __future__ import annotations

import contextlib
import random
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

#: Each simulator's HTTP port under ``bus up`` and ``bus simulate``.
DEFAULT_PORTS = {
    "navision": 7048,
    "creatio": 7049,
    "bitrix24": 7050,
    "onec": 7051,
    "storefront": 7052,
    "mail": 7053,
}
#: The mail simulator's SMTP port.
DEFAULT_SMTP_PORT = 7025
#: The webhook of the Bitrix24 simulator (user 1, its code).
BITRIX24_WEBHOOK = "rest/1/bus-webhook-code"


def settings_for(
    ports: dict[str, int], smtp_port: int = DEFAULT_SMTP_PORT, host: str = "127.0.0.1"
) -> dict[str, dict[str, Any]]:
    """The settings sections that point the bus at simulators listening on ``ports``."""
    url = {name: f"http://{host}:{port}" for name, port in ports.items()}
    sections: dict[str, dict[str, Any]] = {
        "navision": {"url": f"{url.get('navision')}/DynamicsNAV110/ODataV4"},
        "onec": {"url": f"{url.get('onec')}/b2b"},
        "creatio": {"url": url.get("creatio")},
        "bitrix24": {"webhook_url": f"{url.get('bitrix24')}/{BITRIX24_WEBHOOK}"},
        "storefront": {"url": f"{url.get('storefront')}/rpc"},
        "mail": {"host": host, "port": smtp_port},
    }
    return {name: section for name, section in sections.items() if name in ports or name == "mail"}


def as_environment(sections: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``settings_for``'s sections as ``BUS_*`` environment variables."""
    return {
        f"BUS_{name.upper()}__{key.upper()}": str(value)
        for name, section in sections.items()
        for key, value in section.items()
    }


def subscribe_bitrix24(simulator_url: str, bus_url: str, application_token: str) -> None:
    """Register the bus's ``/hooks/bitrix24`` for the simulator's deal events."""
    for event in ("ONCRMDEALUPDATE", "ONCRMDEALADD"):
        httpx.post(
            f"{simulator_url}/_control/bitrix24/subscribe",
            json={
                "url": f"{bus_url}/hooks/bitrix24",
                "application_token": application_token,
                "event": event,
            },
            timeout=10,
        ).raise_for_status()


async def start_simulators(
    ports: dict[str, int],
    host: str,
    smtp_port: int,
    echo: Callable[[str], Any] | None = None,
) -> list[web.AppRunner]:
    """Serve each named simulator on its port (the mail simulator's SMTP on ``smtp_port``).

    Returns the runners; the caller cleans them up.
    """
    from simulators import SIMULATORS

    runners = []
    for name, port in ports.items():
        options = {"smtp_host": host, "smtp_port": smtp_port} if name == "mail" else {}
        runner = web.AppRunner(SIMULATORS[name](**options), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        runners.append(runner)
        if echo is not None:
            extra = f" (SMTP on {host}:{smtp_port})" if name == "mail" else ""
            echo(f"simulator [bold]{name}[/] on http://{host}:{port}{extra}")
    return runners


#: The ports :func:`free_port` handed out lately in this process (the servers of a stack start
#: after all of its ports are picked; picked at random, two of them would otherwise share one in
#: a few hundred stacks).
_HANDED_OUT: deque[int] = deque(maxlen=1024)
#: The ports handed out lately by every process on this machine, a file each named after its port:
#: the test suite's parallel workers (and a demo or a benchmark beside them) picking at random
#: met on one port, and the server started second could not bind it.
_RESERVED = Path(tempfile.gettempdir()) / "bus-free-ports"
#: Seconds a port handed out stays reserved: its server binds it well within that.
_RESERVED_FOR = 300.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, and likely still free when a server binds it: one below
    the kernel's ephemeral range. A port there (what binding port 0 hands out) may be taken
    meanwhile as the local end of any outgoing connection, or by another process's port 0 (a
    ``bus serve`` of the test suite's, started beside many others, once found its port taken)."""
    below = _ephemeral_start()
    for port in random.sample(range(below // 2, below), 64):
        if port in _HANDED_OUT:  # its server may not listen yet: a probe would find it free
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: try another
        if _reserve(port):
            _HANDED_OUT.append(port)
            return port
    with socket.socket() as probe:  # every one tried is in use: whatever the kernel hands out
        probe.bind(("127.0.0.1", 0))
        fallback: int = probe.getsockname()[1]
    return fallback


def _reserve(port: int) -> bool:
    """Reserve ``port`` among this machine's processes; ``False`` if another one did lately."""
    marker = _RESERVED / str(port)
    try:
        _RESERVED.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if time.time() - marker.stat().st_mtime >= _RESERVED_FOR:
                marker.unlink()  # long past: its server bound it then, or never started
        marker.touch(exist_ok=False)  # created here, or it exists: one process wins
    except FileExistsError:
        return False
    except OSError:  # nowhere to keep reservations: this process's own memory still holds
        return True
    return True


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (Linux's default where it cannot be read)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as found:
            return max(2048, int(found.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768
