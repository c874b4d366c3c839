"""Bitrix24 OAuth across worker processes: single-use refresh tokens shared through the journal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from bus.adapters.bitrix24 import Bitrix24Adapter
from bus.db import create_engine
from bus.journal.credentials import JournalSecrets
from bus.migrate import upgrade
from bus.settings import Bitrix24Settings
from simulators import SIMULATORS
from tests.contract.pairs import installed_oauth


async def test_two_processes_renewing_at_once_share_the_newest_tokens(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    app = SIMULATORS["bitrix24"]()
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    oauth = installed_oauth(base, app)
    installed = oauth.refresh_token.get_secret_value()
    settings = Bitrix24Settings(oauth=oauth, requests_per_second=50.0)
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    try:
        async with httpx.AsyncClient() as client:
            first = Bitrix24Adapter(settings, client, JournalSecrets(engine))
            second = Bitrix24Adapter(settings, client, JournalSecrets(engine))
            await first.call("crm.deal.list", {"select": ["ID"]})  # trades the installed token
            await second.call("crm.deal.list", {"select": ["ID"]})  # uses the stored pair
            await client.post(f"{base}/_control/bitrix24/oauth/expire")
            await first.call("crm.deal.list", {"select": ["ID"]})  # renews: refresh token 2 used
            # The second still holds refresh token 2: refused as used, it takes the stored pair.
            await second.call("crm.deal.list", {"select": ["ID"]})
            received = (await client.get(f"{base}/_control/received")).json()["requests"]
        renewals = [r for r in received if r["path"] == "/oauth/token/"]
        assert [r["status"] for r in renewals] == [200, 200, 400]
        stored = await JournalSecrets(engine).get(f"bitrix24-oauth:{base}:local.bus-app")
        assert stored is not None and stored["refresh_token"] != installed
    finally:
        await engine.dispose()
