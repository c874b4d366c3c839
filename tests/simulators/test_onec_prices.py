"""The 1C simulator's price service prices what is marked for deletion and says so."""

from __future__ import annotations

import pytest

from simulators.onec import ONEC_KEY, create_app
from tests.simulators.test_onec import AUTH, HS, NOW, Client, ClientFactory, _json


@pytest.fixture
async def onec(aiohttp_client: ClientFactory) -> Client:
    app = create_app()
    app[ONEC_KEY].now = lambda: NOW
    return await aiohttp_client(app)


async def test_prices_carry_the_deletion_marks_of_the_customer_and_each_item(
    onec: Client,
) -> None:
    params = {"customer": "10000", "items": "1005,1000"}
    body = await _json(await onec.get(HS + "prices", headers=AUTH, params=params), 200)
    assert body["customer_deletion_mark"] is False
    assert [(p["item"], p["price"], p["deletion_mark"]) for p in body["prices"]] == [
        ("1005", 1240, True),  # marked for deletion, still priced
        ("1000", 1350, False),
    ]
    params = {"customer": "40000", "items": "1000"}
    marked = await _json(await onec.get(HS + "prices", headers=AUTH, params=params), 200)
    assert marked["customer_deletion_mark"] is True
