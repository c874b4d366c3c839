"""A throw-away Redis that a test owns and may flush, restart or stop.

The suite's other tests share the machine's Redis (6379), which must never be flushed or
restarted. A :class:`RedisServer` is a ``redis-server`` of its own on a free port of 127.0.0.1,
without any persistence (a restart loses everything, as a Redis without AOF does), its files in a
temporary directory removed by :meth:`RedisServer.stop` (or on leaving its ``with`` block). Its
PostgreSQL counterpart is :class:`tests.support.pgcluster.PgCluster`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from bus.sandbox import free_port
from tests.support.processes import file_tail


class RedisUnavailable(RuntimeError):
    """``redis-server`` is not installed, or it did not come up."""


class RedisServer:
    """A ``redis-server`` of its own on a free port of 127.0.0.1, with no persistence at all."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable("redis-server is not on PATH")
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bus-redis-"))
        self.log_path = self.root / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None
        #: How many times the server was restarted.
        self.restarts = 0
        self.flushes = 0

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A new client of this server."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING.

        Raises:
            RedisUnavailable: it did not answer within 15 s.
        """
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with self.client() as client:
                    if client.ping():
                        return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RedisUnavailable(f"redis-server did not start:\n{self.log_tail()}")

    def restart(self) -> None:
        """Stop the server (losing everything in it) and start it again on the same port."""
        self.halt()
        self.start()
        self.restarts += 1

    def flushall(self) -> None:
        """``FLUSHALL``: every queued wake-up is gone."""
        with self.client() as client:
            client.flushall()
        self.flushes += 1

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self.halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for a failing test's report."""
        return file_tail(self.log_path, chars)

    def halt(self) -> None:
        """Stop the server, keeping its directory: :meth:`start` brings it back, empty."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
