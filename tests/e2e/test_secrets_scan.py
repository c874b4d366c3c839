"""No configured secret, and no set-password token, anywhere the bus keeps or shows things.

One PostgreSQL + Redis deployment per ERP/CRM pair (``bus serve`` and ``bus worker`` as real
processes, every simulator) runs every flow once: provisioning (the set-password mail), an
order through ERP, CRM and the manager's mail, the ERP's status change, the CRM's edit (the
Bitrix24 event with its application token, Creatio's business process with the CRM's key),
prices, balance and an Excel cart, documents, a request the ERP decides, a merge, a
deactivation. Then the journal (every table, every column), the output of the bus's processes
and the CLI's output (``bus messages list --json`` and ``bus messages show --json`` of every
message) are searched for every configured secret (client keys, passwords, tokens, the Bitrix24
webhook and its code, the journal's encryption key) and for every set-password link and token
the storefront issued: none may appear. The mails themselves carry the links: that is where
they must be.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import openpyxl
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import MetaData, select, text
from typer.testing import CliRunner

from bus.cli import app
from bus.db import create_engine
from bus.journal.credentials import open_document
from bus.redaction import configured_secrets
from bus.sealing import Sealer
from bus.settings import Settings, _default_clients
from simulators.creatio.store import seed_id
from simulators.mail import extract_links
from tests.e2e.conftest import EVERY_PAIR, production_env, wait_until
from tests.e2e.test_systems import TIMINGS, _bitrix24_deal, _creatio_order, _creatio_patch
from tests.support.processes import BusClient, Stack
from tests.support.servers import fresh_postgres_database, redis_or_skip

pytestmark = pytest.mark.timeout(420)

#: Keys of the deployment's callers, its own (not the development ones).
KEYS = {role: f"{role}-key-{secrets.token_hex(12)}" for role in ("storefront", "crm", "erp", "ops")}
CUSTOMER = "10000"
#: The pair whose Bitrix24 is reached as a local application over OAuth (the other, by its
#: incoming webhook).
OAUTH_PAIR = ("onec", "bitrix24")


def _environment(database_url: str) -> dict[str, str]:
    clients = {
        role: {"key": KEYS[role], "methods": list(client.methods)}
        for role, client in _default_clients().items()
    }
    return {
        **production_env(database_url, TIMINGS),
        "BUS_CLIENTS": json.dumps(clients),
        "BUS_BITRIX24__APPLICATION_TOKEN": f"app-token-{secrets.token_hex(12)}",
        "BUS_JOURNAL_ENCRYPTION_KEYS": json.dumps([Fernet.generate_key().decode()]),
    }


@pytest.fixture(params=EVERY_PAIR, ids="-".join)
def stack(request: pytest.FixtureRequest, log_dir: Path) -> Iterator[Stack]:
    redis_or_skip()
    erp, crm = request.param
    with fresh_postgres_database() as database_url:
        simulators = (erp, crm, "storefront", "mail")
        deployment = Stack(
            _environment(database_url), log_dir, erp=erp, crm=crm, simulators=simulators
        )
        try:
            deployment.start_simulators()
            if (erp, crm) == OAUTH_PAIR:
                deployment.env.update(_installed_oauth(deployment.urls["bitrix24"]))
            deployment.start_api()
            deployment.start_worker()
            deployment.subscribe_events()
            yield deployment
        finally:
            deployment.stop()


def _installed_oauth(portal: str) -> dict[str, str]:
    """The settings of the simulated portal's local application, installed now."""
    installed = httpx.post(f"{portal}/_control/bitrix24/oauth/token").json()
    oauth = {
        "PORTAL_URL": portal,
        "SERVER": portal,
        "CLIENT_ID": "local.bus-app",
        "CLIENT_SECRET": "bus-app-secret",
        "REFRESH_TOKEN": installed["refresh_token"],
    }
    return {f"BUS_BITRIX24__OAUTH__{name}": value for name, value in oauth.items()}


def _tokens(stack: Stack) -> list[str]:
    """The OAuth tokens the bus holds now, opened from the journal with the deployment's key."""
    with mock.patch.dict(os.environ, stack.env):
        sealer = Sealer.from_settings(Settings())
    rows = _journal(stack, "SELECT value FROM credentials")
    pairs = [open_document(sealer, value) for (value,) in rows]
    return [pair[name] for pair in pairs for name in ("access_token", "refresh_token")]


def _call(stack: Stack, caller: str, method: str, params: dict[str, Any]) -> Any:
    client = BusClient(stack.api_url, KEYS[caller])
    try:
        return client.call(method, params)
    finally:
        client.close()


def _journal(stack: Stack, query: str) -> list[Any]:
    async def read() -> list[Any]:
        engine = create_engine(stack.env["BUS_DATABASE_URL"], null_pool=True)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(query))).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _settled(stack: Stack, at_least: int = 0) -> None:
    """Wait until at least ``at_least`` messages are journaled and every one has finished; a
    failed step ends the wait at once, naming it (the flows must run for the scan to mean
    anything, and the steps behind it would wait for an operator)."""

    def finished() -> bool:
        failed = _journal(
            stack, "SELECT method, operation, last_error FROM messages WHERE status = 'failed'"
        )
        assert failed == [], f"a flow failed: {failed}"
        [(total, open_)] = _journal(
            stack,
            "SELECT count(*), count(*) FILTER (WHERE status NOT IN"
            " ('delivered', 'skipped', 'edited', 'failed', 'cancelled')) FROM messages",
        )
        return bool(total >= at_least and open_ == 0)

    wait_until(finished, stack, 90, f"every message finished (at least {at_least})")


def _count(stack: Stack) -> int:
    [(total,)] = _journal(stack, "SELECT count(*) FROM messages")
    return int(total)


def _run_every_flow(stack: Stack) -> list[str]:
    """Every flow once, each waited for before the next (so each sees its facts); the OAuth
    tokens the bus held (before and after they expired in the middle)."""
    created = _call(stack, "crm", "account.create", _account())
    _settled(stack, 1)
    assert _call(stack, "ops", "message.get", {"message_id": created["message_id"]})
    order_id = f"W-{uuid.uuid4().hex[:8]}"
    lines = [{"item": "1000", "quantity": 12}, {"item": "1002", "quantity": 6}]
    _call(
        stack,
        "storefront",
        "order.submit",
        {"order_id": order_id, "customer": CUSTOMER, "lines": lines},
    )
    _settled(stack, _count(stack))
    _call(stack, "erp", "order.status_changed", {"order_id": order_id, "status": "provided"})
    _settled(stack, _count(stack))
    tokens = _tokens(stack)
    if stack.crm == "bitrix24":  # every token expires: the next call renews the pair
        httpx.post(f"{stack.urls['bitrix24']}/_control/bitrix24/oauth/expire", json={})
    before = _count(stack)
    _edit_in_the_crm(stack, order_id)
    _settled(stack, before + 1)
    _queries(stack)
    for method, params in (
        ("invoice.request", {"customer": "20000", "amount": 1500}),
        ("reconciliation.request", {"customer": "20000", "year": 2026, "quarter": 2}),
        ("address.request", {"customer": "20000", "address": "7 Harbour Lane", "name": "Harbour"}),
    ):
        asked = _call(stack, "storefront", method, params)
    _settled(stack, _count(stack))
    decided = {"request_id": asked["message_id"], "decision": "approved"}
    _call(stack, "erp", "request.decided", decided)
    merge = {
        "customer": "20000",
        "orders": ["A-1001", "A-1002"],
        "outcome": "accepted",
        "new_order": {
            "order_id": "A-1003",
            "erp_number": "SO-9001",
            "status": "created_in_reserve",
            "lines": [{"item": "1000", "quantity": 24}],
        },
    }
    _call(stack, "erp", "order.merge", merge)
    _settled(stack, _count(stack))
    _call(stack, "crm", "account.deactivate", {"erp_key": CUSTOMER})
    _settled(stack, _count(stack))
    return tokens + _tokens(stack)


def _account() -> dict[str, Any]:
    contact = {"name": "Olga Smirnova", "email": f"olga@{CUSTOMER}.example", "primary": True}
    manager = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}
    return {"erp_key": CUSTOMER, "contacts": [contact], "settings": {"manager": manager}}


def _edit_in_the_crm(stack: Stack, order_id: str) -> None:
    """A manager's edit of the order in the CRM, which the CRM tells the bus about."""
    crm = stack.urls[stack.crm]
    if stack.crm == "bitrix24":
        deal, _ = _bitrix24_deal(crm, order_id)
        edit = {"id": int(deal["ID"]), "fields": {"STAGE_ID": "EXECUTING"}}
        httpx.post(f"{crm}/_control/bitrix24/edit_deal", json=edit).raise_for_status()
        return
    hook = {"url": f"{stack.api_url}/rpc", "key": KEYS["crm"]}
    httpx.post(f"{crm}/_control/creatio/hook", json=hook).raise_for_status()
    order, _ = _creatio_order(crm, order_id)
    _creatio_patch(crm, f"Order({order['Id']})", {"StatusId": seed_id("OrderStatus:Completed")})


def _queries(stack: Stack) -> None:
    """The real-time queries: prices, balance, an Excel cart."""
    _call(stack, "storefront", "prices.get", {"customer": CUSTOMER, "items": [{"item": "1000"}]})
    _call(stack, "storefront", "balance.get", {"customer": CUSTOMER})
    book = openpyxl.Workbook()
    book.active.append(["Item", "Quantity"])
    book.active.append(["1000", 6])
    out = io.BytesIO()
    book.save(out)
    workbook = base64.b64encode(out.getvalue()).decode()
    _call(stack, "storefront", "cart.import_excel", {"customer": CUSTOMER, "workbook": workbook})


def _secrets(stack: Stack, tokens: list[str]) -> dict[str, str]:
    """Every secret to look for, by what it is."""
    with mock.patch.dict(os.environ, stack.env):
        configured = configured_secrets(Settings())
    found = {f"configured secret {value[:4]}…": value for value in configured}
    found.update({f"OAuth token {token[:4]}…": token for token in tokens})
    users = httpx.get(f"{stack.urls['storefront']}/_control/storefront/users").json()["users"]
    for user in users:
        link = user["set_password_url"]
        found[f"set-password link of {user['user_id']}"] = link
        found[f"set-password token of {user['user_id']}"] = link.rpartition("token=")[2]
    return found


def _every_row(stack: Stack) -> str:
    """Every table of the journal, every column of every row, as text."""

    async def dump() -> str:
        engine = create_engine(stack.env["BUS_DATABASE_URL"], null_pool=True)
        metadata = MetaData()
        try:
            async with engine.connect() as conn:
                await conn.run_sync(metadata.reflect)
                tables = [
                    json.dumps(
                        [list(row) for row in (await conn.execute(select(t))).all()], default=str
                    )
                    for t in metadata.sorted_tables
                ]
        finally:
            await engine.dispose()
        assert {"messages", "attempts", "credentials"} <= set(metadata.tables)
        return "\n".join(tables)

    return asyncio.run(dump())


def _cli_output(stack: Stack) -> str:
    """``bus messages list --json`` (a process of its own) and ``show --json`` of every
    message."""
    listed = stack.run_cli("messages", "list", "--json", "--limit", "10000")
    assert listed.returncode == 0, listed.stderr
    ids = [m["id"] for m in json.loads(listed.stdout)]
    shown = [listed.stdout, listed.stderr]
    runner = CliRunner()
    for message_id in ids:
        result = runner.invoke(app, ["messages", "show", message_id, "--json"], env=stack.env)
        assert result.exit_code == 0, result.output
        shown.append(result.output)
    return "\n".join(shown)


def _message_get_answers(stack: Stack) -> str:
    """``message.get`` of every message, as the caller that sent it reads it."""
    rows = _journal(stack, "SELECT id, source FROM messages")
    readers = {role: BusClient(stack.api_url, key) for role, key in KEYS.items()}
    try:
        return "\n".join(
            json.dumps(
                readers[source if source in readers else "ops"].call(
                    "message.get", {"message_id": message_id}
                )
            )
            for message_id, source in rows
        )
    finally:
        for reader in readers.values():
            reader.close()


def test_no_secret_is_journaled_logged_or_printed_after_every_flow(stack: Stack) -> None:
    tokens = _run_every_flow(stack)
    # The flows ran: the customer was mailed its link, and nothing failed.
    mails = httpx.get(f"{stack.urls['mail']}/_control/mail/messages").json()["messages"]
    links = [link for mail in mails for link in extract_links(mail["text"])]
    looked_for = _secrets(stack, tokens)
    if (stack.erp, stack.crm) == OAUTH_PAIR:  # two pairs: the first, and the renewed one
        assert len(set(tokens)) == 4, tokens
    assert any("set-password" in link for link in links)
    assert set(links) & set(looked_for.values())
    failed = _journal(
        stack, "SELECT method, operation, last_error FROM messages WHERE status = 'failed'"
    )
    assert failed == [], failed

    answers = _message_get_answers(stack)
    # Sealed secrets are the journal's: no caller or person is shown one, even encrypted.
    assert "fernet:" in _every_row(stack)
    for shown in (answers, _cli_output(stack)):
        assert re.search(r"fernet:(?!\*\*\*)", shown) is None
    places = {
        "the journal": _every_row(stack),
        "the CLI's output": _cli_output(stack),
        "message.get's answers": answers,
        **{
            f"the output of {p.name}": p.output()
            for p in stack.processes
            if p.name in ("api", "worker")
        },
    }
    leaks = [
        f"{what} in {where}"
        for where, content in places.items()
        for what, value in looked_for.items()
        if value in content
    ]
    assert leaks == []
