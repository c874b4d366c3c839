"""The drill's faults: a supervisor that restarts the bus's processes, a Bitrix24 that fails a
third of its requests, and the timeline that injects every fault at its moment.

The supervisor does what systemd's ``Restart=always`` (``RestartSec=1``) does in production: a
process that exits is started again a second later. An exit the drill did not cause (``bus serve``
giving up because PostgreSQL is down or starting) is counted and reported: the bus should ride
such outages out without exiting.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.processes import Process, Stack

#: Seconds a supervisor waits before starting a process that exited (systemd's RestartSec).
RESTART_SEC = 1.0


@dataclass
class Exit:
    """A process of the bus that exited without the drill killing it."""

    role: str
    at: float
    returncode: int | None
    tail: str


@dataclass
class Role:
    """One supervised process: how it is started and its current incarnation."""

    name: str
    args: list[str]
    process: Process | None = None
    restart_at: float | None = None
    starts: int = 0
    #: the size of the role's log when its current process started
    log_offset: int = 0


class Supervisor:
    """Keeps the bus's API and workers running, as a service manager would.

    Parameters:
        stack: spawns the processes (with the stack's settings and log directory).
        clock: seconds since the drill began.
    """

    def __init__(self, stack: Stack, clock: Callable[[], float]) -> None:
        self.stack = stack
        self.clock = clock
        self.roles: dict[str, Role] = {}
        self.exits: list[Exit] = []
        #: (role, seconds) of every SIGKILL the drill sent
        self.kills: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def add(self, name: str, args: list[str], first: list[str] | None = None) -> Process:
        """Start ``bus <first or args>`` as ``name``, and ``bus <args>`` whenever it exits."""
        role = Role(name, args)
        with self._lock:
            self.roles[name] = role
            return self._spawn(role, first)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def kill(self, name: str) -> Process:
        """SIGKILL the role's process (a crash), then start it again at once; the new one."""
        with self._lock:
            role = self.roles[name]
            if role.process is not None:
                role.process.kill()
            self.kills.append((name, self.clock()))
            return self._spawn(role)

    def wait_for_start(self, name: str, timeout: float, after_output: float = 5.0) -> str:
        """Wait until the role's current process exits, or has been printing for
        ``after_output`` seconds (it got past its imports and had time to do something), or
        ``timeout`` passes; what it did."""
        with self._lock:
            role = self.roles[name]
            process, offset = role.process, role.log_offset
        assert process is not None
        began = time.monotonic()
        printed: float | None = None
        while time.monotonic() - began < timeout:
            if process.popen.poll() is not None:
                return f"it exited with {process.popen.returncode}"
            if printed is None and process.log_path.stat().st_size > offset:
                printed = time.monotonic()
            if printed is not None and time.monotonic() - printed >= after_output:
                return f"it was still running {time.monotonic() - began:.0f}s after its start"
            time.sleep(0.1)
        return f"it was still starting after {timeout:.0f}s"

    def stop(self) -> None:
        """Stop watching (the stack stops the processes)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _spawn(self, role: Role, args: list[str] | None = None) -> Process:
        log_path = self.stack.log_dir / f"{role.name}.log"
        role.log_offset = log_path.stat().st_size if log_path.exists() else 0
        role.process = self.stack.spawn(role.name, args or role.args)
        role.restart_at = None
        role.starts += 1
        return role.process

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                for role in self.roles.values():
                    try:
                        self._check(role)
                    except OSError as exc:  # could not start it: try again next round
                        self.exits.append(Exit(role.name, self.clock(), None, repr(exc)))
                        role.restart_at = time.monotonic() + RESTART_SEC

    def _check(self, role: Role) -> None:
        process = role.process
        if process is None:
            return
        if role.restart_at is not None:
            if time.monotonic() >= role.restart_at:
                self._spawn(role)
            return
        returncode = process.popen.poll()
        if returncode is None:
            return
        tail = process.output()[-1500:]
        self.exits.append(Exit(role.name, self.clock(), returncode, tail))
        role.restart_at = time.monotonic() + RESTART_SEC


class EveryThirdFails:
    """Makes a simulator answer 5xx to every third request under ``match``, until stopped.

    One fault with ``every: 3``: deterministic, and never three failures in a row, so this alone
    does not open a breaker. What it did is counted from the simulator's request record.
    """

    def __init__(self, url: str, match: str, status: int = 500) -> None:
        self.url = url
        self.match = match
        self.status = status
        self.failed = 0
        self.passed = 0
        self._since = 0
        self._stopped = False

    def start(self) -> None:
        """Begin failing requests."""
        self._since = self._latest_seq()
        fault = {"mode": "status", "status": self.status, "every": 3, "match": self.match}
        httpx.post(f"{self.url}/_control/faults", json=fault, timeout=10).raise_for_status()

    def stop(self) -> None:
        """Clear the simulator's faults and count what the fault did while it was on (once)."""
        if self._stopped:
            return
        self._stopped = True
        httpx.delete(f"{self.url}/_control/faults", timeout=10).raise_for_status()
        entries = httpx.get(
            f"{self.url}/_control/received", params={"since": self._since}, timeout=10
        ).json()["requests"]
        ours = [entry for entry in entries if self.match in entry["path"]]
        self.failed = sum(entry["fault"] is not None for entry in ours)
        self.passed = len(ours) - self.failed

    def _latest_seq(self) -> int:
        entries = httpx.get(f"{self.url}/_control/received", timeout=10).json()["requests"]
        return max((entry["seq"] for entry in entries), default=0)


@dataclass
class Event:
    """One fault of the timeline as it happened."""

    at: float
    name: str
    detail: str = ""


@dataclass
class Timeline:
    """Faults at offsets (seconds after the load began), run in order by a thread.

    Parameters:
        clock: seconds since the drill began.
    """

    clock: Callable[[], float]
    steps: list[tuple[float, str, Callable[[], Any]]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _began: float = 0.0

    def at(self, offset: float, name: str, action: Callable[[], Any]) -> None:
        """Schedule ``action`` ``offset`` seconds after :meth:`start`."""
        self.steps.append((offset, name, action))

    def start(self) -> None:
        """Run the steps in the background."""
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every step ran; whether they did within ``timeout``."""
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Run no more steps."""
        self._stop.set()

    def _run(self) -> None:
        for offset, name, action in sorted(self.steps, key=lambda step: step[0]):
            if self._stop.wait(max(0.0, self._began + offset - time.monotonic())):
                return
            began = self.clock()
            try:
                detail = action()
            except Exception as exc:  # a fault that could not be injected is a drill failure
                self.errors.append(f"{name}: {exc!r}\n{traceback.format_exc(limit=3)}")
                detail = f"FAILED: {exc!r}"
            self.events.append(Event(began, name, "" if detail is None else str(detail)))
