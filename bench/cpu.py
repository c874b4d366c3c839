"""The CPU a delivery costs, per delivered order, by the process that spent it.

On one machine every process of a delivery bench shares the same cores: the worker, the
simulator, the journal's PostgreSQL and Redis. Orders per second then depend on all of them and on
what else the machine does at the moment; the CPU each process spends per order does not, and says
where a difference in throughput comes from. The simulator does the same work per order whoever
sends it, so a process's CPU as a multiple of the simulator's is the figure to compare between
runs minutes apart (the machine's speed cancels out).
"""

from __future__ import annotations

import time

import psutil

#: Processes found by their name: every PostgreSQL process (each connection has its own), Redis.
_BY_NAME = {"journal": "postgres", "redis": "redis-server"}


class CpuMeter:
    """User and system CPU time of a delivery's processes between :meth:`start` and
    :meth:`per_order`.

    Parameters:
        worker: the pid of the worker process (its child processes are counted with it).
        simulator: the pid of the simulator receiving the orders.
    """

    def __init__(self, worker: int, simulator: int) -> None:
        self._pids = {"worker": worker, "simulator": simulator}
        self._started: dict[str, dict[int, float]] = {}
        self.started_at = 0.0

    def start(self) -> None:
        """Take the first reading."""
        self.started_at = time.time()
        self._started = self._read()

    def per_order(self, orders: int) -> dict[str, float]:
        """Microseconds of CPU per order of each group since :meth:`start` (``worker_cpu_us``,
        ``simulator_cpu_us``, ``journal_cpu_us``, ``redis_cpu_us``), their sum (``all_cpu_us``),
        and the worker's as a multiple of the simulator's. A process started since counts whole."""
        figures = {}
        for group, now in self._read().items():
            before = self._started.get(group, {})
            spent = sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())
            figures[f"{group}_cpu_us"] = spent / orders * 1e6
        figures["all_cpu_us"] = sum(figures.values())
        figures["worker_per_simulator"] = figures["worker_cpu_us"] / figures["simulator_cpu_us"]
        return figures

    def _read(self) -> dict[str, dict[int, float]]:
        groups: dict[str, list[psutil.Process]] = {group: [] for group in [*self._pids, *_BY_NAME]}
        for group, pid in self._pids.items():
            process = psutil.Process(pid)
            groups[group] = [process, *process.children(recursive=True)]
        for process in psutil.process_iter(["name"]):
            for group, name in _BY_NAME.items():
                if (process.info["name"] or "").startswith(name):
                    groups[group].append(process)
        return {group: _cpu_seconds(processes) for group, processes in groups.items()}


def _cpu_seconds(processes: list[psutil.Process]) -> dict[int, float]:
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended meanwhile
            continue
        seconds[process.pid] = times.user + times.system
    return seconds
