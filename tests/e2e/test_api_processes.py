"""Several API processes behind one address: ``bus serve --processes N`` on PostgreSQL + Redis.

Each process binds the same port (SO_REUSEPORT) and shares nothing with the others but the journal
and Redis: calls spread over them, every accepted order is delivered once, and a process that
dies takes the others down with it rather than leaving the address short-handed.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bus.settings import DEV_KEYS
from tests.e2e.conftest import FAST, all_delivered, order, production_env, wait_until
from tests.e2e.test_startup import bus
from tests.support.processes import BusClient, Stack, wait_for_http
from tests.support.servers import fresh_postgres_database, redis_or_skip


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of ``pid`` so far, in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _serving(stack: Stack, processes: int) -> list[int]:
    """``bus serve --processes N`` of ``stack``, once every process listens; their pids."""
    api = stack.spawn("api", ["serve", "--migrate", "--processes", str(processes)])
    wait_for_http(f"{stack.api_url}/health", api, timeout=90)

    def all_listening() -> bool:
        return api.output().count("listening on") == processes

    wait_until(all_listening, stack, 60, f"{processes} processes listening")
    # The spawn start method adds a resource tracker: the servers are the others.
    return [pid for pid in _children(api.popen.pid) if "resource_tracker" not in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def test_api_processes_share_one_address_and_each_order_is_delivered_once(log_dir: Path) -> None:
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        stack = Stack(production_env(database_url, FAST), log_dir)
        try:
            stack.start_simulator()
            children = _serving(stack, 2)
            assert len(children) == 2
            stack.start_worker()
            before = {pid: _cpu_ticks(pid) for pid in children}

            def submit(numbers: range) -> list[str]:
                client = BusClient(stack.api_url, DEV_KEYS["storefront"])
                try:
                    return [client.call("order.submit", order(n))["message_id"] for n in numbers]
                finally:
                    client.close()

            # Many connections: the kernel gives each to one process.
            with ThreadPoolExecutor(8) as pool:
                batches = pool.map(submit, [range(i, i + 10) for i in range(1, 161, 10)])
                message_ids = [message_id for batch in batches for message_id in batch]
            assert len(set(message_ids)) == 160
            ops = BusClient(stack.api_url, DEV_KEYS["ops"])
            wait_until(all_delivered(ops, message_ids), stack, 120, "every order delivered")
            ops.close()
            busy = [pid for pid in children if _cpu_ticks(pid) - before[pid] > 10]
            assert len(busy) == 2, "both processes took calls"
        finally:
            stack.stop()


def test_a_process_that_dies_stops_the_others(log_dir: Path) -> None:
    redis_or_skip()
    with fresh_postgres_database() as database_url:
        stack = Stack(production_env(database_url, FAST), log_dir)
        try:
            children = _serving(stack, 2)
            os.kill(children[0], signal.SIGKILL)
            api = stack.processes[-1]
            deadline = time.monotonic() + 60
            while api.popen.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert api.popen.returncode == 1, api.output()
            assert "ended (exit code -9): stopping the others" in api.output()
            assert not _alive(children[1])
        finally:
            stack.stop()


@pytest.mark.parametrize("processes", ["2"])
def test_several_processes_need_redis(tmp_path: Path, processes: str) -> None:
    sqlite = {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"}
    done = bus("serve", "--processes", processes, env=sqlite)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "bus serve refuses to start: --processes needs Redis (BUS_REDIS_URL); with the"
            " embedded queue each process would deliver only what it accepted itself"
        )
    )
