"""What the CLI prints, as an operator or a script reads it: ``--json`` on the setup commands,
plain usage errors and help through a pipe, a payload that stays JSON, an edit's refusal in 80
columns, and a development bus that says so once.

Real processes: ``bus`` run piped (``COLUMNS=80``) or on a pseudo-terminal 80 columns wide, on a
SQLite journal of the test's own (the messages are written straight into it), and ``bus serve``
on the embedded deployment.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bus.db import create_engine, reading, writing
from bus.journal.accept import Accepted, Command, accept_batch
from bus.journal.tables import messages
from bus.migrate import head_revision
from bus.sandbox import free_port
from bus.settings import DEV_KEYS
from tests.support.processes import Process, wait_for_http
from tests.support.terminal import on_terminal as run_on_terminal

#: Box drawing (U+2500–U+257F) and block elements.
BOX = re.compile("[\u2500-\u259f]")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

#: Longer than a line: wrapped inside the string, the printed payload would not be JSON.
LONG_COMMENT = (
    "Deliver to the back entrance of the warehouse on Industrial Road 12 between 08:00 and"
    " 11:00; call Maria Schmidt on +49 30 1234567 half an hour before, the gate is locked."
)
PAYLOAD: dict[str, Any] = {
    "order_id": "E-1",
    "customer": "10000",
    "lines": [{"item": "1000", "unit": None, "quantity": 2.0}],
    "comment": LONG_COMMENT,
}


def environment(env: dict[str, str], columns: int | None) -> dict[str, str]:
    """The process's environment: no ``BUS_*`` but ``env``'s, ``COLUMNS`` as given."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BUS_")}
    environ.pop("COLUMNS", None)
    if columns is not None:
        environ["COLUMNS"] = str(columns)
    return {**environ, **env}


def bus(
    *args: str, env: dict[str, str], columns: int | None = 80
) -> subprocess.CompletedProcess[str]:
    """``bus ARGS`` piped (standard output and error not terminals)."""
    return subprocess.run(
        [sys.executable, "-m", "bus", *args],
        env=environment(env, columns),
        capture_output=True,
        text=True,
        timeout=120,
    )


def on_terminal(*args: str, env: dict[str, str], columns: int = 80) -> tuple[int, str]:
    """``bus ARGS`` on a pseudo-terminal ``columns`` wide: its exit status and what it wrote
    there (standard output and error), colour codes and carriage returns taken out."""
    code, written = run_on_terminal(args, environment(env, None), columns, timeout=120)
    return code, ANSI.sub("", written).replace("\r", "")


def assert_plain_in_80_columns(text: str) -> None:
    """No box drawing, no colour codes, no line past 80 characters."""
    assert text.strip(), "nothing printed"
    assert not BOX.search(text) and "\x1b[" not in text, text
    for line in text.splitlines():
        assert len(line) <= 80, f"{len(line)} characters: {line!r}"


@pytest.fixture
def journal(tmp_path: Path) -> dict[str, str]:
    """The settings of a development bus on an empty SQLite journal (schema not created)."""
    return {
        "BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        "BUS_DEVELOPMENT": "true",
    }


@pytest.fixture
def failed_order(journal: dict[str, str]) -> str:
    """The id of a failed ``order.submit`` to NAV whose payload holds a long comment."""
    assert bus("db", "upgrade", env=journal).returncode == 0
    return asyncio.run(_journal_failed(journal["BUS_DATABASE_URL"], PAYLOAD))


async def _journal_failed(database_url: str, payload: dict[str, Any]) -> str:
    engine = create_engine(database_url, null_pool=True)
    try:
        command = Command(
            method="order.submit",
            source="storefront",
            target="navision",
            operation="sales_order.create",
            payload=payload,
            idempotency_key="cli-output-1",
            ordering_key=f"order:{payload['order_id']}",
        )
        async with writing(engine) as conn:
            [outcome] = await accept_batch(conn, [command])
            assert isinstance(outcome, Accepted)
            await conn.execute(
                update(messages)
                .where(messages.c.id == outcome.message_id)
                .values(status="failed", last_error="navision answered 400", attempts_total=1)
            )
        return outcome.message_id
    finally:
        await engine.dispose()


def _status(database_url: str, message_id: str) -> str:
    async def read() -> str:
        engine = create_engine(database_url, null_pool=True)
        try:
            async with reading(engine) as conn:
                query = select(messages.c.status).where(messages.c.id == message_id)
                return str(await conn.scalar(query))
        finally:
            await engine.dispose()

    return asyncio.run(read())


# --json on every command that reports


def test_db_upgrade_says_what_it_did_in_json(journal: dict[str, str]) -> None:
    head = head_revision(journal["BUS_DATABASE_URL"])
    runs = [
        bus("db", "upgrade", "--revision", "0001", "--json", env=journal),
        bus("db", "upgrade", "--json", env=journal),
        bus("db", "upgrade", "--json", env=journal),
    ]
    assert [done.returncode for done in runs] == [0, 0, 0], [done.stderr for done in runs]
    assert [json.loads(done.stdout) for done in runs] == [
        {"from": None, "to": "0001", "head": head, "changed": True},
        {"from": "0001", "to": head, "head": head, "changed": True},
        {"from": head, "to": head, "head": head, "changed": False},
    ]


def test_config_check_in_json_names_the_file_and_every_problem(
    journal: dict[str, str], tmp_path: Path
) -> None:
    done = bus("config", "check", "--json", env=journal)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "ok": True,
        "config": None,
        "problems": [],
        "settings": {
            "erp": "navision",
            "crm": "bitrix24",
            "journal": "SQLite",
            "queue": "embedded",
            "listen": "127.0.0.1:8080",
            "development": True,
        },
    }

    wrong = tmp_path / "bus.toml"
    wrong.write_text('erp = "sap"\nport = "eighty"\n')
    done = bus("config", "check", "--json", env={**journal, "BUS_CONFIG": str(wrong)})
    assert done.returncode == 2
    found = json.loads(done.stdout)
    assert (found["ok"], found["config"], found["settings"]) == (False, str(wrong), None)
    assert len(found["problems"]) == 2, found
    assert any(p.startswith("erp") for p in found["problems"]), found
    assert any(p.startswith("port") for p in found["problems"]), found

    # outside development, the shipped secrets are a problem as bus serve would refuse them
    done = bus("config", "check", "--json", env={**journal, "BUS_DEVELOPMENT": "false"})
    assert done.returncode == 2
    found = json.loads(done.stdout)
    [problem] = found["problems"]
    assert found["ok"] is False and problem.startswith("bus serve refuses to start: ")
    assert "clients.storefront.key" in problem and found["settings"]["development"] is False


def test_config_sample_in_json_holds_every_default_and_no_secret(journal: dict[str, str]) -> None:
    done = bus("config", "sample", "--json", env=journal)
    assert done.returncode == 0, done.stderr
    sample = json.loads(done.stdout)
    settings, secrets = sample["settings"], sample["secrets"]
    assert settings["erp"] == "navision" and settings["queue"]["lease"] > 0
    assert settings["navision"]["password"] is None
    assert secrets["navision.password"] == "BUS_NAVISION__PASSWORD"
    assert secrets["clients.storefront.key"] == "BUS_CLIENTS__STOREFRONT__KEY"
    assert settings["clients"]["storefront"]["key"] is None
    assert not any(key in done.stdout for key in DEV_KEYS.values())


def test_secrets_reencrypt_counts_in_json(journal: dict[str, str]) -> None:
    assert bus("db", "upgrade", env=journal).returncode == 0
    done = bus("secrets", "reencrypt", "--json", env=journal)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"credentials": 0, "results": 0}


# usage errors and help: plain through a pipe, rich on a terminal

USAGE_ERRORS = [
    (("messages", "replay", "--group", "G", "--yes"), "say why with --reason"),
    (("messages", "list", "--status", "bogus"), "unknown status 'bogus'"),
]


@pytest.mark.parametrize(("args", "said"), USAGE_ERRORS)
def test_a_usage_error_is_plain_text_through_a_pipe(
    args: tuple[str, ...], said: str, journal: dict[str, str]
) -> None:
    done = bus(*args, env=journal)
    assert done.returncode == 2
    assert done.stdout == ""
    assert not BOX.search(done.stderr), done.stderr
    assert said in done.stderr and "Error: " in done.stderr, done.stderr


@pytest.mark.parametrize(
    "args", [("--help",), ("messages", "--help"), ("messages", "replay", "--help")]
)
def test_help_is_plain_text_through_a_pipe(args: tuple[str, ...], journal: dict[str, str]) -> None:
    done = bus(*args, env=journal)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: "), done.stdout
    assert_plain_in_80_columns(done.stdout)


def test_on_a_terminal_usage_errors_and_help_keep_their_panels(journal: dict[str, str]) -> None:
    status, written = on_terminal("messages", "replay", "--group", "G", "--yes", env=journal)
    assert status == 2 and BOX.search(written) and "say why with --reason" in written, written
    status, written = on_terminal("messages", "--help", env=journal)
    assert status == 0 and BOX.search(written), written


# a payload printed is JSON


def _payload_block(printed: str) -> Any:
    """The payload ``bus messages show`` printed, parsed."""
    lines = printed.splitlines()
    start = lines.index("payload") + 1
    block: list[str] = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        block.append(line)
    return json.loads("\n".join(block))


def test_show_prints_a_payload_that_parses_back_at_80_columns(
    journal: dict[str, str], failed_order: str
) -> None:
    done = bus("messages", "show", failed_order, env=journal)
    assert done.returncode == 0, done.stderr
    assert _payload_block(done.stdout) == PAYLOAD
    status, written = on_terminal("messages", "show", failed_order, env=journal)
    assert status == 0, written
    assert _payload_block(written) == PAYLOAD


# an edit's refusal fits the width


def test_an_edit_refused_names_each_field_within_80_columns(
    journal: dict[str, str], failed_order: str, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps({**PAYLOAD, "customer": "20000", "colour": "blue"}))
    done = bus(
        *("messages", "edit", failed_order, "--reason", "another customer"),
        *("--payload-file", str(edited)),
        env=journal,
    )
    assert done.returncode == 1
    assert_plain_in_80_columns(done.stderr)
    said = " ".join(done.stderr.split())
    assert said.startswith("refused: Invalid params; nothing changed"), done.stderr
    assert "colour: Extra inputs are not permitted (extra_forbidden)" in said
    assert (
        "customer: customer makes the message's identity and key: it is not edited (cancel the"
        " message and send another instead) (fixed_field)"
    ) in said
    assert _status(journal["BUS_DATABASE_URL"], failed_order) == "failed"

    # without COLUMNS, a pipe is not cut: a line per field, as before
    done = bus(
        *("messages", "edit", failed_order, "--reason", "another customer"),
        *("--payload-file", str(edited)),
        env=journal,
        columns=None,
    )
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 3, done.stderr


# a development bus says so once


def test_a_development_bus_on_the_embedded_deployment_says_so_once(
    journal: dict[str, str], log_dir: Path
) -> None:
    port = free_port()
    env = {**journal, "BUS_PORT": str(port)}
    serve = Process("api", ["serve"], environment(env, None), log_dir)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", serve)
    finally:
        serve.stop()
    output = serve.output()
    said = [line for line in output.splitlines() if "development" in line]
    assert len(said) == 1, output
    assert all(f"clients.{name}.key" in said[0] for name in DEV_KEYS), output
