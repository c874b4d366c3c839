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

from bus import sandbox
from bus.sandbox import free_port
from bus.settings import Settings


def file_tail(path: Path, chars: int = 4000) -> str:
    """The end of a log file, for a failing test's report ("" while there is none)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


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
        self.terminate()
        self.reap()

    def terminate(self) -> None:
        """Send SIGTERM and return at once (:meth:`reap` waits for the exit)."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)

    def reap(self) -> None:
        """Wait up to 15 s for the exit :meth:`terminate` asked for, then SIGKILL."""
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
        time.sleep(0.05)
    raise AssertionError(f"{process.name} did not answer {url}:\n{process.output()[-4000:]}")


class Stack:
    """A bus deployment made of real processes: simulators, API, workers.

    Parameters:
        env: ``BUS_*`` settings shared by every process of the stack.
        log_dir: where each process's output goes.
        erp: the deployment's ERP (its simulator is ``sim_url``, the one most tests watch).
        crm: the deployment's CRM.
        simulators: the simulators to run (the ERP's by default).
    """

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        *,
        erp: str = "navision",
        crm: str = "bitrix24",
        simulators: tuple[str, ...] | None = None,
    ) -> None:
        self.erp, self.crm = erp, crm
        self.ports = {name: free_port() for name in simulators or (erp,)}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.sim_port = self.ports[erp]
        self.sim_url = self.urls[erp]
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.env = {
            # A development bus: the simulators' shipped credentials and the public keys are
            # what a test stack uses (a test of the production refusal sets it to false).
            "BUS_DEVELOPMENT": "true",
            **sandbox.as_environment(sandbox.settings_for(self.ports, smtp_port=free_port())),
            "BUS_ERP": erp,
            "BUS_CRM": crm,
            "BUS_PORT": str(self.api_port),
            **env,
        }
        self.log_dir = log_dir
        self.processes: list[Process] = []

    def start_simulator(self, name: str | None = None) -> Process:
        """Start one simulator (the ERP's by default) and wait until it answers."""
        name = name or self.erp
        process = self._spawn_simulator(name)
        wait_for_http(f"{self.urls[name]}/_control/health", process)
        return process

    def start_simulators(self) -> None:
        """Start every simulator of the stack, then wait until each answers."""
        started = {name: self._spawn_simulator(name) for name in self.ports}
        for name, process in started.items():
            wait_for_http(f"{self.urls[name]}/_control/health", process)

    def start(self) -> None:
        """Start every simulator and ``bus serve`` at once, then wait until each answers.

        The API needs no simulator to start, so the processes' start-ups overlap.
        """
        started = {name: self._spawn_simulator(name) for name in self.ports}
        api = self.spawn("api", ["serve", "--migrate"])
        for name, process in started.items():
            wait_for_http(f"{self.urls[name]}/_control/health", process)
        wait_for_http(f"{self.api_url}/health", api)

    def _spawn_simulator(self, name: str) -> Process:
        # The simulator alone, as ``bus simulate`` serves it: see tests.support.simulate.
        args = [name, str(self.ports[name]), self.env["BUS_MAIL__PORT"]]
        return self.spawn(name, args, module="tests.support.simulate")

    def subscribe_events(self) -> None:
        """Point the CRM simulator's outbound events at the bus (Bitrix24 only)."""
        if "bitrix24" in self.ports:
            default = Settings().bitrix24.application_token.get_secret_value()
            token = self.env.get("BUS_BITRIX24__APPLICATION_TOKEN", default)
            sandbox.subscribe_bitrix24(self.urls["bitrix24"], self.api_url, token)

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
        """Stop every process of the stack: SIGTERM to all at once, then wait for each."""
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            process.reap()

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
        reply = self.reply(method, params)
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]

    def reply(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call ``method``; its whole reply, result or error."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}
        answer: dict[str, Any] = self.http.post(self.url, json=body).json()
        return answer

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()
