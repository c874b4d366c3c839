"""Running the bus, its workers and simulators as real processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import free_port


class Process:
    """One ``python -m MODULE …`` child process (``bus`` by default), its output in a log file."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_dir: Path, module: str = "bus"
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def rss_mib(self) -> float:
        """Resident memory of the process now, in MiB (Linux)."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def output(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")


def wait_for_http(url: str, process: Process, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers 2xx, or fail with the process's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{process.output()[-4000:]}")
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{process.name} did not answer {url}:\n{process.output()[-4000:]}")


class Stack:
    """A bus deployment made of real processes: simulator, API, workers.

    Parameters:
        env: ``BUS_*`` settings shared by every process of the stack.
        log_dir: where each process's output goes.
    """

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.sim_port = free_port()
        self.api_port = free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        nav = f"{self.sim_url}/DynamicsNAV110/ODataV4"
        self.env = {"BUS_NAVISION__URL": nav, "BUS_PORT": str(self.api_port), **env}
        self.log_dir = log_dir
        self.processes: list[Process] = []

    def start_simulator(self) -> Process:
        """Start the Navision simulator and wait until it answers."""
        process = self.spawn("navision", ["simulate", "navision", "--port", str(self.sim_port)])
        wait_for_http(f"{self.sim_url}/_control/health", process)
        return process

    def start_api(self, name: str = "api") -> Process:
        """Start ``bus serve`` and wait until it is healthy."""
        process = self.spawn(name, ["serve", "--migrate"])
        wait_for_http(f"{self.api_url}/health", process)
        return process

    def start_worker(self, name: str = "worker") -> Process:
        """Start ``bus worker`` (Redis deployments)."""
        return self.spawn(name, ["worker"])

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one ``bus`` CLI command to completion with the stack's settings."""
        return subprocess.run(
            [sys.executable, "-m", "bus", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def stop(self) -> None:
        """Stop every process of the stack."""
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        """Every process's output, for a failing test's report."""
        return "\n".join(f"===== {p.name}\n{p.output()[-6000:]}" for p in self.processes)

    def spawn(self, name: str, args: list[str], module: str = "bus") -> Process:
        """Start ``python -m module args`` with the stack's settings, stopped with the stack."""
        process = Process(name, args, self.env, self.log_dir, module)
        self.processes.append(process)
        return process


class BusClient:
    """A JSON-RPC client of the bus, speaking plain HTTP as any storefront would."""

    def __init__(self, url: str, key: str) -> None:
        self.url = f"{url}/rpc"
        self.http = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self._ids = 0

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """Call ``method``; return its result or raise with the JSON-RPC error."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        reply = self.http.post(self.url, json=body).json()
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()
