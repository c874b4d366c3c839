"""A throw-away PostgreSQL cluster that a test may stop, start and restart at will.

The suite's other tests share the machine's server on 5432, which must never be restarted. A
:class:`PgCluster` is a cluster of its own: ``initdb`` into a temporary directory, served on a free
port of 127.0.0.1 with trust authentication and its sockets in that directory, removed with
everything in it by :meth:`PgCluster.cleanup` (or on leaving its ``with`` block)::

    with PgCluster() as pg:          # initdb'd and started
        url = pg.bus_url             # postgresql+asyncpg://postgres@127.0.0.1:<port>/postgres
        pg.stop()                    # connections refused, data kept
        pg.start(wait=False)         # "the database system is starting up" for a moment
        pg.restart()                 # every connection cut

initdb and the postmaster refuse to run as root; as root every server binary runs as the
``postgres`` user (through ``runuser``) and the directory is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Literal

from bus.sandbox import free_port
from tests.support.processes import file_tail

#: Where Debian and Ubuntu install the server binaries, one directory per major version.
BIN_GLOB = "/usr/lib/postgresql/*/bin"

#: How ``pg_ctl stop`` ends the server: ``fast`` cuts every connection (as a restart or a
#: failover does), ``immediate`` is a crash (recovery at the next start).
StopMode = Literal["smart", "fast", "immediate"]


class PgClusterUnavailable(RuntimeError):
    """The server binaries are missing, or the cluster could not be created or started."""


def bin_dir() -> Path:
    """The newest installed directory holding ``initdb`` and ``pg_ctl`` (``PG_BIN`` overrides).

    Raises:
        PgClusterUnavailable: none is installed.
    """
    override = os.environ.get("PG_BIN")
    found = [Path(override)] if override else []
    found += sorted(map(Path, glob.glob(BIN_GLOB)), key=_major, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    for directory in found:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise PgClusterUnavailable(f"no initdb and pg_ctl in $PG_BIN, {BIN_GLOB} or on PATH")


def _major(directory: Path) -> int:
    version = directory.parent.name
    return int(version) if version.isdigit() else 0


class PgCluster:
    """One PostgreSQL cluster in a temporary directory, on a free port of 127.0.0.1.

    Parameters:
        settings: server settings (``-c name=value``) on top of the defaults, which favour speed
            over durability (``fsync=off``): the data is thrown away anyway.
    """

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bus-pgcluster-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self._settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        self._bin = bin_dir()
        self._as_postgres = os.geteuid() == 0
        self._initialised = False

    @property
    def url(self) -> str:
        """The ``postgresql://`` URL of the ``postgres`` database (trust authentication)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def bus_url(self) -> str:
        """:attr:`url` with the driver the bus uses, for ``BUS_DATABASE_URL``."""
        return self.url.replace("postgresql://", "postgresql+asyncpg://", 1)

    def initdb(self) -> PgCluster:
        """Create the cluster (not started). Raises :class:`PgClusterUnavailable` on failure."""
        if self._as_postgres:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise PgClusterUnavailable("running as root, and no 'postgres' user") from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        self._initialised = True
        return self

    def start(self, *, wait: bool = True) -> None:
        """Start the server; with ``wait``, return once it accepts connections.

        Without ``wait`` it returns at once, while the server still answers "the database system
        is starting up" (SQLSTATE 57P03) or refuses connections.
        """
        options = " ".join(f"-c {name}={value}" for name, value in self._settings.items())
        self._run(
            "pg_ctl",
            "start",
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_path),
            "--options",
            f"-p {self.port} {options}",
            *(("--wait", "--timeout", "60") if wait else ("--no-wait",)),
        )

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server, keeping its data; waits until it is down."""
        self._run("pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", mode, "--wait")

    def restart(self, mode: StopMode = "fast") -> None:
        """Stop, then start again on the same port with the same data."""
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        """Whether the server is up (its postmaster is running)."""
        return (
            self._initialised
            and self._run("pg_ctl", "status", "--pgdata", str(self.data_dir), check=False) == 0
        )

    def cleanup(self) -> None:
        """Stop the server if it runs (as a crash: nothing is worth flushing), remove the files."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for a failing test's report."""
        return file_tail(self.log_path, chars)

    def _run(self, binary: str, *args: str, check: bool = True) -> int:
        command = [str(self._bin / binary), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if check and done.returncode != 0:
            raise PgClusterUnavailable(
                f"{binary} {args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n{self.log_tail()}"
            )
        return done.returncode

    def __enter__(self) -> PgCluster:
        try:
            self.initdb().start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.cleanup()
