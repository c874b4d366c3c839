"""The ERP simulators as the adapter contract tests drive them: the adapter under test against
a running simulator, and a client of the test's own to look inside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bus.adapters import Adapter, Delivery
from bus.adapters.onec import OnecAdapter
from tests.contract.pairs import new_id

COMPANY = "DynamicsNAV110/ODataV4/Company('CRONUS')"
ODATA = "/b2b/odata/standard.odata"


@dataclass
class Nav:
    """The NAV simulator, the adapter against it, and a client that reads it directly."""

    base: str
    adapter: Adapter
    control: httpx.AsyncClient

    async def customer(self, number: str) -> dict[str, Any]:
        receipt = await self.adapter.deliver(
            Delivery(new_id(), "customer.read", {"erp_key": number})
        )
        customer: dict[str, Any] = receipt.details["customer"]
        return customer

    async def order_of(self, delivery: Delivery) -> dict[str, Any]:
        """The sales order ``delivery`` created, as NAV stores it."""
        response = await self.control.get(
            f"{self.base}/DynamicsNAV110/ODataV4/Company('CRONUS')/SalesOrder",
            params={"$filter": f"External_Document_No eq '{delivery.message_id}'"},
            auth=("bus", "bus-secret"),
        )
        (order,) = response.raise_for_status().json()["value"]
        found: dict[str, Any] = order
        return found

    async def requests_of(self, delivery: Delivery) -> list[dict[str, Any]]:
        """The ``B2BRequests`` rows carrying ``delivery``'s message id, as NAV stores them."""
        response = await self.control.get(
            f"{self.base}/{COMPANY}/B2BRequests",
            params={"$filter": f"Request_Id eq '{delivery.message_id}'"},
            auth=("bus", "bus-secret"),
        )
        found: list[dict[str, Any]] = response.raise_for_status().json()["value"]
        return found

    async def lose_the_next_answer(self) -> None:
        """NAV registers the next request but the answer never reaches the bus."""
        fault = {
            "mode": "drop_after_commit",
            "times": 1,
            "match": "/B2BRequests",
            "methods": ["POST"],
        }
        (await self.control.post(f"{self.base}/_control/faults", json=fault)).raise_for_status()


@dataclass
class Onec:
    """The running 1C simulator, the adapter under test and a client of our own to look inside."""

    base: str
    adapter: OnecAdapter
    control: httpx.AsyncClient

    async def customer(self, code: str) -> dict[str, Any]:
        receipt = await self.adapter.deliver(Delivery(new_id(), "customer.read", {"erp_key": code}))
        customer: dict[str, Any] = receipt.details["customer"]
        return customer

    async def odata(self, path: str, **params: str) -> Any:
        response = await self.control.get(
            f"{self.base}{ODATA}/{path}",
            params={"$format": "json", **params},
            auth=("bus", "bus-secret"),
        )
        return response.raise_for_status().json()

    async def requests(self) -> list[dict[str, Any]]:
        received = await self.control.get(f"{self.base}/_control/received")
        requests: list[dict[str, Any]] = received.raise_for_status().json()["requests"]
        return requests

    async def control_call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.control.request(method, f"{self.base}/_control/{path}", json=body)
        return response.raise_for_status().json()

    async def registered(self) -> list[dict[str, Any]]:
        listed = await self.control_call("GET", "onec/requests")
        requests: list[dict[str, Any]] = listed["requests"]
        return requests
