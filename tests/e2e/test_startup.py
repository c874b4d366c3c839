"""Starting the bus as an operator does: every start-up mistake is one line and an exit code (no
traceback), ``bus serve`` says where it listens, ``bus db upgrade`` says what it did."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bus.migrate import head_revision
from bus.sandbox import free_port
from bus.settings import Settings
from tests.e2e.conftest import running
from tests.support.processes import Stack
from tests.support.servers import fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]


#: A development bus, which may start on the secrets the bus ships with (these tests are about
#: other mistakes), where the settings have the notion.
DEVELOPMENT = {"BUS_DEVELOPMENT": "true"} if "development" in Settings.model_fields else {}


def bus(
    *args: str, env: dict[str, str], development: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``bus ARGS`` as a process with only ``env``'s ``BUS_*`` variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
    return subprocess.run(
        [sys.executable, "-m", "bus", *args],
        env={**environ, **(DEVELOPMENT if development else {}), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines the command printed, less the log lines a development bus always writes."""
    return [line for line in done.stderr.splitlines() if "development bus" not in line]


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"}


def config_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bus.toml"
    path.write_text(text)
    return str(path)


CASES = {
    "a misspelt section": (
        {"BUS_NAVISON__URL": "http://nav:7048/DynamicsNAV110/ODataV4"},
        "bus: configuration: BUS_NAVISON__URL is not a setting (no setting 'navison';"
        " did you mean BUS_NAVISION__URL?)",
    ),
    "a URL that is not one": (
        {"BUS_NAVISION__URL": "nav:7048/DynamicsNAV110/ODataV4"},
        "bus: configuration: navision.url (BUS_NAVISION__URL): is not an http:// or https://"
        " URL with a host",
    ),
    "a port that is not a number": (
        {"BUS_PORT": "80a"},
        "bus: configuration: port (BUS_PORT): Input should be a valid integer, unable to parse"
        " string as an integer",
    ),
    "a list that is not JSON": (
        {"BUS_ORDER_ROUTES": "erp:sales_order.create"},
        "bus: configuration: order_routes (BUS_ORDER_ROUTES): is not valid JSON (Expecting"
        " value: line 1 column 1 (char 0))",
    ),
}


@pytest.mark.parametrize(
    ("case", "command"),
    [(case, ["serve"]) for case in CASES]
    + [
        ("a misspelt section", ["worker"]),
        ("a URL that is not one", ["db", "upgrade"]),
        ("a misspelt section", ["up"]),
        ("a port that is not a number", ["config", "check"]),
    ],
)
def test_a_configuration_mistake_is_one_line_and_exit_2(
    case: str, command: list[str], sqlite_env: dict[str, str]
) -> None:
    variables, line = CASES[case]
    done = bus(*command, env={**sqlite_env, "BUS_REDIS_URL": "redis://127.0.0.1:1/0", **variables})
    assert (done.returncode, error_lines(done)) == (2, [line]), done.stderr


def test_a_config_file_that_is_not_there_is_refused(sqlite_env: dict[str, str]) -> None:
    done = bus("serve", env={**sqlite_env, "BUS_CONFIG": "/etc/bus/nowhere.toml"})
    assert (done.returncode, error_lines(done)) == (
        2,
        ["bus: configuration: BUS_CONFIG names /etc/bus/nowhere.toml, which is not a file"],
    )


def test_a_config_file_that_is_not_toml_is_refused(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    path = config_file(tmp_path, 'erp = "navision"\n[navision\nurl = "http://nav"\n')
    done = bus("serve", env={**sqlite_env, "BUS_CONFIG": path})
    assert (done.returncode, error_lines(done)) == (
        2,
        [
            f"bus: configuration: BUS_CONFIG {path} is not valid TOML: Expected ']' at the end of"
            " a table declaration (at line 2, column 10)"
        ],
    )


def test_a_misspelt_key_in_the_config_file_is_refused(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    path = config_file(tmp_path, '[navision]\nurll = "http://nav:7048/DynamicsNAV110/ODataV4"\n')
    done = bus("serve", env={**sqlite_env, "BUS_CONFIG": path})
    assert (done.returncode, error_lines(done)) == (
        2,
        [
            "bus: configuration: navision.urll (BUS_NAVISION__URLL): is not a setting;"
            " did you mean 'url'?"
        ],
    )


def test_a_port_already_taken_is_said_so(sqlite_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = bus("serve", "--port", str(port), env=sqlite_env)
    assert refusal(done) == (
        1,
        [
            f"bus: bus serve cannot listen on 127.0.0.1:{port}: the address is already in use"
            " (another process listens there)"
        ],
    )
    # the one line, before anything starts (the embedded deployment's worker included)
    assert len(error_lines(done)) == 1, done.stderr


@pytest.fixture
def api(log_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    yield from running(Stack({"BUS_DATABASE_URL": database_url}, log_dir))


def test_serve_says_where_it_listens(api: Stack) -> None:
    [api_process] = [p for p in api.processes if p.name == "api"]
    lines = [line for line in api_process.output().splitlines() if "listening on" in line]
    assert [line.split(" INFO ", 1)[1] for line in lines] == [
        f"bus: listening on http://127.0.0.1:{api.api_port} (JSON-RPC at /rpc)"
    ]


def test_db_upgrade_says_what_it_did_on_sqlite(sqlite_env: dict[str, str]) -> None:
    says_what_it_did(sqlite_env["BUS_DATABASE_URL"])


@pytest.mark.postgres
def test_db_upgrade_says_what_it_did_on_postgres() -> None:
    with fresh_postgres_database() as database_url:
        says_what_it_did(database_url)


def says_what_it_did(database_url: str) -> None:
    env = {"BUS_DATABASE_URL": database_url}
    head = head_revision(database_url)
    runs = [
        bus("db", "upgrade", "--revision", "0001", env=env),
        bus("db", "upgrade", env=env),
        bus("db", "upgrade", env=env),
    ]
    assert [(done.returncode, done.stdout) for done in runs] == [
        (0, "the journal's schema was created: none -> revision 0001\n"),
        (0, f"the journal's schema was upgraded: revision 0001 -> {head}\n"),
        (0, f"the journal's schema was at revision {head} (the newest) already: no change\n"),
    ], [done.stderr for done in runs]


def test_db_upgrade_waits_for_the_journal_then_says_why_it_gave_up() -> None:
    port = free_port()  # nothing listens there
    env = {
        "BUS_DATABASE_URL": f"postgresql://bus@127.0.0.1:{port}/bus",
        "BUS_STARTUP_WAIT": "1",
    }
    done = bus("db", "upgrade", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "the journal is still unreachable after 1s" in done.stderr.splitlines()[-1]


def test_config_check_reads_the_sample_with_the_secrets_from_the_environment() -> None:
    env = {
        "BUS_CONFIG": str(ROOT / "deploy" / "bus.example.toml"),
        "BUS_CLIENTS__STOREFRONT__KEY": "k1",
        "BUS_CLIENTS__CRM__KEY": "k2",
        "BUS_CLIENTS__ERP__KEY": "k3",
        "BUS_CLIENTS__OPS__KEY": "k4",
    }
    done = bus("config", "check", env=env)
    assert (done.returncode, done.stdout) == (
        0,
        f"configuration ok ({env['BUS_CONFIG']}): ERP navision, CRM bitrix24, journal SQLite,"
        " queue embedded, listening on 127.0.0.1:8080\n",
    ), done.stderr


def refusal(done: subprocess.CompletedProcess[str]) -> tuple[int, list[str]]:
    """The exit code and the error lines (less their time stamps) of a refused start."""
    errors = [line.split(" ERROR ", 1)[1] for line in done.stderr.splitlines() if " ERROR " in line]
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, errors


def test_serve_refuses_a_schema_behind_naming_both_revisions(sqlite_env: dict[str, str]) -> None:
    assert bus("db", "upgrade", "--revision", "0001", env=sqlite_env).returncode == 0
    done = bus("serve", "--no-migrate", "--port", str(free_port()), env=sqlite_env)
    assert refusal(done) == (
        2,
        [
            "bus: bus serve refuses to start: the journal's schema is at revision 0001 and this"
            f" bus needs {head_revision(sqlite_env['BUS_DATABASE_URL'])}: run `bus db upgrade`"
            " first (or bus serve --migrate)"
        ],
    )


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"]])
def test_a_schema_a_newer_bus_migrated_is_refused(
    command: list[str], sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    assert bus("db", "upgrade", env=sqlite_env).returncode == 0
    with sqlite3.connect(tmp_path / "bus.db") as journal:
        journal.execute("UPDATE alembic_version SET version_num = '9999'")
    head = head_revision(sqlite_env["BUS_DATABASE_URL"])
    done = bus(*command, env=sqlite_env)
    assert refusal(done) == (
        2,
        [
            f"bus: {'bus serve refuses to start' if command == ['serve'] else 'bus db upgrade'}:"
            " the journal's schema is at revision 9999, which this bus does not know (its newest"
            f" is {head}): a newer version of the bus migrated it"
        ],
    )


def test_db_upgrade_to_a_revision_there_is_not(sqlite_env: dict[str, str]) -> None:
    done = bus("db", "upgrade", "--revision", "0077", env=sqlite_env)
    assert refusal(done) == (
        2,
        ["bus: bus db upgrade: Can't locate revision identified by '0077'"],
    )


def test_a_worker_without_redis_says_what_it_needs(sqlite_env: dict[str, str]) -> None:
    done = bus("worker", env=sqlite_env)
    assert refusal(done) == (
        2,
        [
            "bus: bus worker refuses to start: it takes messages from Redis and redis_url"
            " (BUS_REDIS_URL) is not set; without Redis, bus serve delivers them itself"
        ],
    )


def test_a_host_name_that_is_not_known_is_said_so(sqlite_env: dict[str, str]) -> None:
    done = bus("serve", "--host", "bus-host.invalid", "--port", "8080", env=sqlite_env)
    assert refusal(done) == (
        1,
        ["bus: bus serve cannot listen on bus-host.invalid:8080: the host name is not known"],
    )


def deployment_secrets() -> dict[str, str]:
    """The secrets of deploy/.env.example, with a real journal key for its placeholder."""
    env = {
        name: value
        for line in (ROOT / "deploy" / ".env.example").read_text().splitlines()
        if line.startswith("BUS_")
        for name, value in [line.split("=", 1)]
    }
    env["BUS_JOURNAL_ENCRYPTION_KEYS"] = f'["{Fernet.generate_key().decode()}"]'
    return env


def test_config_check_passes_the_deployments_configuration_with_its_secrets() -> None:
    sample = str(ROOT / "deploy" / "bus.example.toml")
    env = {"BUS_CONFIG": sample, **deployment_secrets()}
    done = bus("config", "check", env=env, development=False)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.startswith(f"configuration ok ({sample}): ERP navision, CRM bitrix24")


def test_config_check_refuses_the_shipped_secrets_as_serve_would(tmp_path: Path) -> None:
    env = {"BUS_CONFIG": config_file(tmp_path, 'erp = "navision"\n')}
    done = bus("config", "check", env=env, development=False)
    assert done.returncode == 2
    assert "bus serve refuses to start: " in done.stderr
    assert "clients.storefront.key" in done.stderr and "journal_encryption_keys" in done.stderr
    assert done.stdout == ""
