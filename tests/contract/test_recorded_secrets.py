"""The attempt log keeps no Bitrix24 credential: the webhook's code, the OAuth client secret and
every token the portal issued are redacted from the recorded exchanges (URLs, bodies, headers),
against the Bitrix24 simulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from bus.adapters.bitrix24 import Bitrix24Adapter
from bus.adapters.recording import EVENT_HOOKS, ExchangeLog, start_log
from bus.db import create_engine
from bus.journal.credentials import JournalSecrets
from bus.migrate import upgrade
from bus.sandbox import BITRIX24_WEBHOOK
from bus.settings import Bitrix24Settings
from simulators import SIMULATORS
from simulators.bitrix24.service import B24_KEY
from tests.contract.pairs import installed_oauth


def recorded(log: ExchangeLog) -> str:
    """Every exchange of ``log`` as the journal stores it."""
    return json.dumps([[e.request, e.response] for e in log.exchanges])


async def test_the_webhook_code_is_not_recorded(aiohttp_server: Any) -> None:
    server = await aiohttp_server(SIMULATORS["bitrix24"]())
    base = str(server.make_url("")).rstrip("/")
    settings = Bitrix24Settings(webhook_url=f"{base}/{BITRIX24_WEBHOOK}")
    async with httpx.AsyncClient(event_hooks=EVENT_HOOKS) as client:
        log = start_log()
        await Bitrix24Adapter(settings, client).call("crm.deal.list", {"select": ["ID"]})
    [exchange] = log.exchanges
    assert exchange.request["url"] == f"{base}/rest/1/***/crm.deal.list.json"
    assert "bus-webhook-code" not in recorded(log)


async def test_oauth_renewals_and_calls_record_no_secret_and_no_token(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    app = SIMULATORS["bitrix24"]()
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    oauth = installed_oauth(base, app)
    settings = Bitrix24Settings(oauth=oauth, requests_per_second=50.0)
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        async with httpx.AsyncClient(event_hooks=EVENT_HOOKS) as client:
            adapter = Bitrix24Adapter(settings, client, JournalSecrets(engine))
            log = start_log()
            await adapter.call("crm.deal.list", {"select": ["ID"]})  # trades the installed token
            await client.post(f"{base}/_control/bitrix24/oauth/expire")
            await adapter.call("crm.deal.list", {"select": ["ID"]})  # refused, renewed, again
    finally:
        await engine.dispose()
    renewals = [e for e in log.exchanges if "/oauth/token/" in e.request["url"]]
    assert len(renewals) == 2
    assert all("client_secret=***" in e.request["url"] for e in renewals)
    assert all("refresh_token=***" in e.request["url"] for e in renewals)
    tokens = app[B24_KEY].oauth
    issued = [*tokens._access, *tokens._refresh]  # every token the portal ever handed out
    assert len(issued) >= 4
    shown = recorded(log)
    for secret in (oauth.client_secret.get_secret_value(), *issued):
        assert secret not in shown
