"""The outbound hook: a Creatio business process calling the bus's JSON-RPC web service.

Creatio has no outbound event API; an integrator configures a process with a [Call web service]
element. The simulator plays that process: a test registers the target, then tells it an
account was created or deactivated, and it POSTs one JSON-RPC 2.0 request (no retries).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from simulators.creatio.entities import EMPTY_GUID, parse_guid
from simulators.creatio.store import Row, Store

_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class HookTarget:
    """Where the process posts, and the bearer key it sends."""

    url: str
    key: str


@dataclass
class Hooks:
    """The registered target, the HTTP client and the calls made so far."""

    target: HookTarget | None = None
    session: aiohttp.ClientSession | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        """Forget the target and the calls."""
        self.target = None
        self.calls.clear()

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST one JSON-RPC request to the target and record the HTTP status it got."""
        if self.target is None or self.session is None:
            raise web.HTTPConflict(text="no hook registered")
        payload = {
            "jsonrpc": "2.0",
            "id": f"creatio-{len(self.calls) + 1}",
            "method": method,
            "params": params,
        }
        record: dict[str, Any] = {"url": self.target.url, "request": payload, "status": None}
        headers = {"Authorization": f"Bearer {self.target.key}"}
        try:
            async with self.session.post(
                self.target.url, json=payload, headers=headers, timeout=_TIMEOUT
            ) as response:
                record["status"] = response.status
                body = await response.read()
                # A business process keeps what the callee answered (the bus's message id).
                record["response"] = json.loads(body) if body else None
        except ValueError:
            record["response"] = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["error"] = repr(exc)
        self.calls.append(record)
        return record


HOOKS_KEY = web.AppKey("creatio_hooks", Hooks)
STORE_KEY = web.AppKey("creatio_store", Store)


async def client_session(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: one client session for the app's lifetime."""
    async with aiohttp.ClientSession() as session:
        app[HOOKS_KEY].session = session
        yield
        app[HOOKS_KEY].session = None


def account_params(store: Store, account: Row) -> dict[str, Any]:
    """``account.create`` params from an Account and its contacts (primary contact first)."""
    contacts = [c for c in store.rows("Contact") if c["AccountId"] == account["Id"]]
    contacts.sort(key=lambda c: c["Id"] != account["PrimaryContactId"])
    return {
        "erp_key": account["Code"],
        "name": account["Name"],
        "contacts": [
            {
                "name": c["Name"],
                "email": c["Email"],
                "phone": c["MobilePhone"],
                "job_title": c["JobTitle"],
                "primary": c["Id"] == account["PrimaryContactId"],
            }
            for c in contacts
        ],
        "settings": {
            "crm": "creatio",
            "crm_id": account["Id"],
            "phone": account["Phone"],
            "web": account["Web"],
            "type_id": None if account["TypeId"] == EMPTY_GUID else account["TypeId"],
        },
    }


async def register(request: web.Request) -> web.Response:
    """``POST /_control/creatio/hook {"url", "key"}``."""
    body = await _json(request)
    url, key = body.get("url"), body.get("key")
    if not isinstance(url, str) or not isinstance(key, str):
        raise web.HTTPBadRequest(text="url and key must be strings")
    request.app[HOOKS_KEY].target = HookTarget(url, key)
    return web.json_response({"ok": True})


async def account_created(request: web.Request) -> web.Response:
    """``POST /_control/creatio/account_created {"account_id"}``: posts ``account.create``."""
    store, account = request.app[STORE_KEY], await _account(request)
    record = await request.app[HOOKS_KEY].call("account.create", account_params(store, account))
    return web.json_response(record)


async def account_deactivated(request: web.Request) -> web.Response:
    """``POST /_control/creatio/account_deactivated {"account_id"}``: ``account.deactivate``."""
    account = await _account(request)
    record = await request.app[HOOKS_KEY].call("account.deactivate", {"erp_key": account["Code"]})
    return web.json_response(record)


async def hook_calls(request: web.Request) -> web.Response:
    """``GET /_control/creatio/hook_calls``: the calls made, oldest first."""
    return web.json_response({"calls": request.app[HOOKS_KEY].calls})


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


async def _account(request: web.Request) -> Row:
    key = parse_guid(str((await _json(request)).get("account_id")))
    account = request.app[STORE_KEY].tables["Account"].get(key or "")
    if account is None:
        raise web.HTTPNotFound(text="no such account")
    return account
