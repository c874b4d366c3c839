"""The outbound hook: Creatio business processes calling the bus's JSON-RPC web service.

Creatio has no outbound event API; an integrator configures a process with a [Call web service]
element. The simulator plays those processes: a test registers the target, and each process
POSTs one JSON-RPC 2.0 request (no retries), recorded in :attr:`Hooks.calls`:

* ``account.create`` / ``account.deactivate`` when a test says an account was created or
  deactivated (``/_control/creatio/account_created``, ``account_deactivated``);
* ``creatio.order_changed {"order_id", "modified_on"}`` when an order is saved: after every
  OData request (a ``$batch`` as a whole) that PATCHed an ``Order`` or added, changed or deleted
  one of its ``OrderProduct`` rows, whoever sent it (the bus's own inserts too: the bus knows
  its echo by the order's state), once per order and request. It runs in the background, so
  the OData answer neither waits for the bus nor fails with it. Creating an ``Order`` does not
  start it. ``/_control/creatio/order_changed`` starts it by hand, as a manager's save would.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from simulators.creatio.entities import EMPTY_GUID, parse_guid
from simulators.creatio.store import Row, Store

_log = logging.getLogger(__name__)
_TIMEOUT = aiohttp.ClientTimeout(total=10)
#: The JSON-RPC method of the order-changed process.
ORDER_CHANGED = "creatio.order_changed"


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
    _sent: int = 0
    _pending: set[asyncio.Task[dict[str, Any]]] = field(default_factory=set)

    def reset(self) -> None:
        """Forget the target and the calls."""
        self.target = None
        self.calls.clear()
        self._sent = 0

    def order_changed(self, order: Row) -> None:
        """Start the order-changed process in the background, if a target is registered."""
        if self.target is None or self.session is None:
            return  # no process configured: the save is all there is
        task = asyncio.get_running_loop().create_task(self.call(ORDER_CHANGED, order_params(order)))
        # Keep a reference until done, or the task may be garbage-collected mid-flight.
        self._pending.add(task)
        task.add_done_callback(self._finished)

    async def drain(self) -> None:
        """Wait for the calls under way (tests use it instead of sleeping)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _finished(self, task: asyncio.Task[dict[str, Any]]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("the order-changed process failed: %r", task.exception())

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST one JSON-RPC request to the target and record the HTTP status it got."""
        if self.target is None or self.session is None:
            raise web.HTTPConflict(text="no hook registered")
        # Counted when sent, not when recorded: background calls may overlap.
        self._sent += 1
        payload = {
            "jsonrpc": "2.0",
            "id": f"creatio-{self._sent}",
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
    """cleanup_ctx: one client session for the app's lifetime; calls under way finish first."""
    async with aiohttp.ClientSession() as session:
        app[HOOKS_KEY].session = session
        yield
        await app[HOOKS_KEY].drain()
        app[HOOKS_KEY].session = None


def fire_order_changes(app: web.Application) -> None:
    """Start the order-changed process for every order saved since the last call.

    Called once an OData request is done, so the process sees committed data; the store is
    drained even without a target, so a hook registered later does not hear of old saves.
    """
    hooks = app[HOOKS_KEY]
    for order in app[STORE_KEY].take_changed_orders():
        hooks.order_changed(order)


def order_params(order: Row) -> dict[str, Any]:
    """``creatio.order_changed`` params: the saved order's ``Id`` and its ``ModifiedOn``."""
    return {"order_id": order["Id"], "modified_on": order["ModifiedOn"]}


def account_params(store: Store, account: Row) -> dict[str, Any]:
    """``account.create`` params from an Account and its contacts (primary contact first).

    As an integrator's [Call web service] template would, it sends the account's own columns and
    contacts, not its manager (the ``Owner``) nor the storefront settings (the greeting, the menu
    items): the bus reads those itself (``account.read``).
    """
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


async def order_changed(request: web.Request) -> web.Response:
    """``POST /_control/creatio/order_changed {"order_id"}``: ``creatio.order_changed`` now, as
    a manager's save in the UI would start it; answers the recorded call."""
    key = parse_guid(str((await _json(request)).get("order_id")))
    order = request.app[STORE_KEY].tables["Order"].get(key or "")
    if order is None:
        raise web.HTTPNotFound(text="no such order")
    record = await request.app[HOOKS_KEY].call(ORDER_CHANGED, order_params(order))
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
