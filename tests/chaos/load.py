"""The drill's callers: a storefront, an ERP and a CRM calling the bus as real ones would.

Every call is retried as it was sent (its idempotency key, if any, included) on anything that may
pass (no connection, HTTP 5xx, a JSON-RPC error that is not the caller's own fault), a bounded
number of times; a storefront also repeats calls it already sent. What each call got is recorded,
so the audit knows which messages were acknowledged and which were never acknowledged.

The plan is deterministic (no randomness decides what is sent, only when):

- **orders**: ``ORDER_IDS`` storefront order ids, each an order of its own: the bus knows an order
  by its order id, not by the key it comes with. Each is sent two or three times (the storefront
  repeating a call it is unsure of): twice with its key, a third time without one (a storefront
  that lost its key). Every third id is then sent again in a second version (the customer changed
  the cart: new content, a new key), two or three times: the bus refuses it (``-32010``, naming
  the order id and the order's message) and it must change nothing. 1,000 ``order.submit`` calls
  over 300 orders;
- **status changes**: for each order the ERP reports one to three statuses, between and after
  the versions (``order.status_changed``, the ERP's key), once the order was acknowledged: the
  ERP has only orders the bus delivered, and the bus refuses a change of an order it does not know;
- **accounts**: for each of ``CUSTOMERS`` the CRM creates, then deactivates the storefront account,
  three times over (``account.create`` / ``account.deactivate``, the CRM's key); a customer's
  story stops at a call that is never acknowledged, as the CRM could not know what to send next.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bus.settings import DEV_KEYS

#: Storefront order ids of the drill.
ORDER_IDS = [f"CH-{n:04d}" for n in range(1, 301)]
#: Customers the drill provisions and deactivates (created in NAV and Bitrix24 by the drill).
CUSTOMERS = [f"CH{n:02d}" for n in range(1, 7)]
#: Orders are placed by a customer the drill never provisions: the default route (ERP, then CRM).
ORDER_CUSTOMER = "20000"
#: Create/deactivate pairs per customer.
PAIRS = 3
#: The statuses the ERP reports, in this order.
STATUSES = ("created_in_reserve", "provided", "shipped")
#: JSON-RPC errors that are the caller's own fault: sending the same call again cannot help.
CLIENT_ERRORS = frozenset({-32700, -32600, -32601, -32602, -32001, -32003, -32006, -32010, -32011})
#: Tries of one call: most callers are patient, every tenth gives up quickly.
PATIENT_TRIES = 15
IMPATIENT_TRIES = 2


@dataclass
class Call:
    """One logical call of a caller: sent, and retried with its key, until answered or given up.

    Parameters:
        method: the JSON-RPC method.
        caller: whose key it is sent with (``storefront``, ``erp``, ``crm``).
        key: the idempotency key (also in ``params``); ``None``: sent without one.
        entity: the order id or the customer the call is about.
        max_tries: how many times the caller sends it at most.
    """

    method: str
    caller: str
    key: str | None
    params: dict[str, Any]
    entity: str
    max_tries: int
    sent_at: float | None = None
    acked_at: float | None = None
    message_id: str | None = None
    answered_status: str | None = None
    tries: int = 0
    errors: list[str] = field(default_factory=list)
    #: a JSON-RPC error that is the caller's fault (never expected in the drill)
    refused: dict[str, Any] | None = None

    @property
    def acknowledged(self) -> bool:
        """Whether the bus answered with a message id."""
        return self.message_id is not None

    @property
    def identity(self) -> str:
        """What the bus knows the call's message by: an order by its order id, whatever key
        it came with; anything else by its idempotency key."""
        if self.method == "order.submit":
            return order_identity(self.entity)
        assert self.key is not None  # every other call of the drill carries its key
        return self.key

    @property
    def label(self) -> str:
        """The call in a finding's sample: its key, or that it had none."""
        return self.key or f"{self.identity} (no key)"


def order_identity(order_id: str) -> str:
    """How the audit names an order: by its storefront order id (as the bus knows it)."""
    return f"order:{order_id}"


class Caller:
    """Sends :class:`Call` s to the bus's ``/rpc`` (one HTTP client per thread) and records them."""

    def __init__(self, api_url: str, clock: Callable[[], float]) -> None:
        self.url = f"{api_url}/rpc"
        self.clock = clock
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._ids = 0

    def send(self, call: Call) -> Call:
        """Send ``call`` until acknowledged, refused or out of tries; record and return it."""
        with self._lock:
            self.calls.append(call)
        call.sent_at = self.clock()
        headers = {"Authorization": f"Bearer {DEV_KEYS[call.caller]}"}
        while call.tries < call.max_tries:
            call.tries += 1
            retry_after: list[float] = []
            outcome = self._try(call, headers, retry_after)
            if outcome == "done":
                return call
            call.errors.append(outcome)
            if call.tries < call.max_tries:
                backoff = min(2.0, 0.25 * 2 ** (call.tries - 1)) * random.uniform(0.75, 1.25)
                time.sleep(max([backoff, *retry_after]))
        return call

    def _try(self, call: Call, headers: dict[str, str], retry_after: list[float]) -> str:
        """One try: ``done`` (acknowledged or refused), or what went wrong (retry), with the
        bus's ``data.retry_after`` added to ``retry_after`` when it gave one."""
        with self._lock:
            self._ids += 1
            request_id = self._ids
        body = {"jsonrpc": "2.0", "id": request_id, "method": call.method, "params": call.params}
        try:
            response = self._client().post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"transport: {type(exc).__name__}"
        if response.status_code >= 500:
            return f"HTTP {response.status_code}"
        try:
            reply = response.json()
        except ValueError:
            return f"HTTP {response.status_code}: not JSON"
        if not isinstance(reply, dict):
            return f"HTTP {response.status_code}: not a JSON-RPC response"
        error = reply.get("error")
        if isinstance(error, dict):
            if error.get("code") in CLIENT_ERRORS or response.status_code in (401, 403, 413):
                call.refused = error
                return "done"
            data = error.get("data")
            wait = data.get("retry_after") if isinstance(data, dict) else None
            if isinstance(wait, int | float) and not isinstance(wait, bool):
                retry_after.append(min(float(wait), 5.0))
            return f"JSON-RPC {error.get('code')}: {error.get('message')}"
        result = reply.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), str):
            return f"HTTP {response.status_code}: no message id in {str(reply)[:200]}"
        call.message_id = result["message_id"]
        call.answered_status = str(result.get("status"))
        call.acked_at = self.clock()
        return "done"

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=httpx.Timeout(15.0, connect=3.0))
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every thread's HTTP client."""
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()


def _tries(label: str) -> int:
    """Every tenth call (by a stable hash of its key, or label) belongs to an impatient caller."""
    return IMPATIENT_TRIES if sum(label.encode()) % 10 == 0 else PATIENT_TRIES


def order_params(number: int, version: int) -> dict[str, Any]:
    """``order.submit`` params of version ``version`` of the ``number``-th order (1-based), with
    its key; a second version has other lines (another quantity, one more item)."""
    order_id = ORDER_IDS[number - 1]
    lines: list[dict[str, Any]] = [
        {"item": "1000", "quantity": 1 + number % 7 + (version - 1)},
        {"item": "1100", "quantity": 12},
    ]
    if version > 1:
        lines.append({"item": "1201", "quantity": version})
    return {
        "order_id": order_id,
        "customer": ORDER_CUSTOMER,
        "lines": lines,
        "comment": f"chaos drill {order_id} v{version}",
        "idempotency_key": f"{order_id}/v{version}",
    }


def versions_of(number: int) -> int:
    """How many versions the ``number``-th order is sent in (the second one is refused)."""
    return 2 if number % 3 == 0 else 1


def sends_of(number: int, version: int) -> int:
    """How many times the storefront sends one version (the first send and its repeats)."""
    return 2 + (number + version) % 2


def keyless(send: int) -> bool:
    """Whether the ``send``-th send (0-based) of a version goes without its key: the third, as a
    storefront that lost the key sends it."""
    return send == 2


def statuses_of(number: int) -> int:
    """How many status changes the ERP reports for the ``number``-th order."""
    return 1 + number % 3


def planned_submits() -> int:
    """The ``order.submit`` calls the plan makes (retries not counted)."""
    return sum(
        sends_of(n, v) for n in range(1, len(ORDER_IDS) + 1) for v in range(1, versions_of(n) + 1)
    )


class Load:
    """Runs the plan's stories on a thread pool, spread over ``window`` seconds.

    Parameters:
        caller: sends and records the calls.
        window: order stories start evenly over this many seconds; account stories within its
            first half.
        seed: for the pauses between a story's calls.
    """

    def __init__(self, caller: Caller, window: float, seed: int = 9) -> None:
        self.caller = caller
        self.window = window
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()
        #: exceptions of the drill's own code in a story (none expected)
        self.errors: list[str] = []

    def start(self) -> None:
        """Start dispatching stories in the background."""
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Wait until every story has ended; whether they did within ``timeout``."""
        return self.finished.wait(timeout)

    def stop(self) -> None:
        """Start no more stories (those running end after their current call)."""
        self._stop.set()

    def _pause(self, low: float, high: float) -> None:
        with self._rng_lock:
            seconds = self._rng.uniform(low, high)
        self._stop.wait(seconds)

    def _run(self) -> None:
        try:
            self._dispatch()
        except Exception as exc:  # a bug of the drill: reported, not swallowed
            self.errors.append(repr(exc))
        finally:
            self.finished.set()

    def _dispatch(self) -> None:
        with ThreadPoolExecutor(max_workers=40, thread_name_prefix="caller") as pool:
            began = time.monotonic()
            futures = [
                pool.submit(self._account_story, customer, index * self.window / 2 / 6)
                for index, customer in enumerate(CUSTOMERS)
            ]
            for number in range(1, len(ORDER_IDS) + 1):
                due = began + (number - 1) * self.window / len(ORDER_IDS)
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
                futures.append(pool.submit(self._order_story, number))
            for future in futures:
                error = future.exception()
                if error is not None:
                    self.errors.append(repr(error))

    def _order_story(self, number: int) -> None:
        """Versions of one order, each sent two or three times, and the ERP's status changes."""
        order_id = ORDER_IDS[number - 1]
        statuses = iter(_status_calls(order_id, statuses_of(number)))
        known = False  # the ERP reports only orders the bus delivered to it
        for version in range(1, versions_of(number) + 1):
            keyed = order_params(number, version)
            for send in range(sends_of(number, version)):
                if self._stop.is_set():
                    return
                key: str | None = keyed["idempotency_key"]
                params, tries = keyed, _tries(keyed["idempotency_key"])
                if keyless(send):
                    key, params = None, {k: v for k, v in keyed.items() if k != "idempotency_key"}
                sent = self.caller.send(
                    Call("order.submit", "storefront", key, params, order_id, tries)
                )
                known = known or sent.acknowledged
                self._pause(0.1, 0.8)
            if known:
                self._send_next_status(statuses)
        if not known:
            return
        for _ in range(len(STATUSES)):
            self._pause(0.1, 0.6)
            if self._stop.is_set() or not self._send_next_status(statuses):
                return

    def _send_next_status(self, statuses: Iterator[Call]) -> bool:
        call = next(statuses, None)
        if call is None:
            return False
        self.caller.send(call)
        return True

    def _account_story(self, customer: str, delay: float) -> None:
        """Create, then deactivate, the customer's account ``PAIRS`` times, strictly in turn."""
        self._stop.wait(delay)
        for pair in range(1, PAIRS + 1):
            for method in ("account.create", "account.deactivate"):
                if self._stop.is_set():
                    return
                key = f"{customer}/{method.split('.')[1]}/{pair}"
                params: dict[str, Any] = {"erp_key": customer, "idempotency_key": key}
                if method == "account.create":
                    params.update(
                        name=f"Chaos Customer {customer}",
                        contacts=[
                            {
                                "name": "Ivan Chaos",
                                "email": f"buyer-{customer.lower()}@chaos.example",
                                "primary": True,
                            }
                        ],
                        settings={"greeting": f"Hello, {customer}"},
                    )
                call = self.caller.send(Call(method, "crm", key, params, customer, PATIENT_TRIES))
                if not call.acknowledged:
                    return  # the CRM cannot tell what the bus has: it stops and asks a human
                if method == "account.create":
                    self._pause(0.5, 2.0)  # a deactivate soon after: often behind the create
                else:
                    self._pause(2.0, 5.0)


def _status_calls(order_id: str, count: int) -> list[Call]:
    calls = []
    for number, status in enumerate(STATUSES[:count], start=1):
        key = f"{order_id}/status/{number}"
        params = {
            "order_id": order_id,
            "status": status,
            "changed_at": dt.datetime.now(dt.UTC).isoformat(),
            "idempotency_key": key,
        }
        calls.append(Call("order.status_changed", "erp", key, params, order_id, _tries(key)))
    return calls
