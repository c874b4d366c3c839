"""Direct clients of the CRM simulators for contract tests: what a person using the system's own
API sees, independently of the adapter under test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bus.adapters import Adapter

#: Creatio's login service (the session cookies and the BPMCSRF token come back from it).
CREATIO_LOGIN = "/ServiceModel/AuthService.svc/Login"
#: The Bitrix24 simulator's incoming webhook.
BITRIX24_WEBHOOK = "/rest/1/bus-webhook-code"


@dataclass
class CreatioConsole:
    """The Creatio simulator, the adapter under test, and a manager's own OData session."""

    base: str
    adapter: Adapter
    control: httpx.AsyncClient

    async def odata(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """A request past the adapter, as a manager saving in Creatio's UI would send it."""
        login = await self.control.post(
            self.base + CREATIO_LOGIN,
            json={"UserName": "Supervisor", "UserPassword": "Supervisor"},
        )
        headers = {
            "BPMCSRF": login.cookies["BPMCSRF"],
            "Cookie": "; ".join(f"{k}={v}" for k, v in login.cookies.items()),
            "Accept": "application/json",
        }
        self.control.cookies.clear()
        response = await self.control.request(
            method, f"{self.base}/0/odata/{path}", headers=headers, json=body
        )
        return response.raise_for_status()


@dataclass
class Bitrix24Console:
    """A running Bitrix24 simulator, the adapter under test, and a client of the portal."""

    base: str
    adapter: Adapter
    control: httpx.AsyncClient

    async def rest(self, method: str, params: dict[str, Any]) -> Any:
        """Call a REST method through the webhook, as a person with the portal's API would."""
        response = await self.control.post(
            f"{self.base}{BITRIX24_WEBHOOK}/{method}.json", json=params
        )
        return response.raise_for_status().json()["result"]
