"""Who may call what: every method with every built-in key, against a real ``bus serve``.

Each system's key calls the methods by which that system speaks, and nothing else; ``ops`` reads
(every message, prices, balances, its methods' document) and speaks for no system. The table
below is the rule; the README's method table says the same (its *caller* column), and the bus
refuses every other call with ``-32003`` naming the method and the client, before reading params.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bus.settings import DEV_KEYS
from schemas.catalog import METHODS
from tests.rpc.conftest import Rpc, start_bus
from tests.support.processes import Stack

EVERY = frozenset(DEV_KEYS)

#: method -> the clients allowed to call it.
ALLOWED: dict[str, frozenset[str]] = {
    "order.submit": frozenset({"storefront"}),
    "prices.get": frozenset({"storefront", "ops"}),
    "balance.get": frozenset({"storefront", "ops"}),
    "cart.import_excel": frozenset({"storefront"}),
    "invoice.request": frozenset({"storefront"}),
    "reconciliation.request": frozenset({"storefront"}),
    "address.request": frozenset({"storefront"}),
    "employee.request": frozenset({"storefront"}),
    "account.create": frozenset({"crm"}),
    "account.deactivate": frozenset({"crm"}),
    "creatio.order_changed": frozenset({"crm"}),
    "order.status_changed": frozenset({"erp"}),
    "order.merge": frozenset({"erp"}),
    "request.decided": frozenset({"erp"}),
    "message.get": EVERY,
    "rpc.discover": EVERY,
}

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def creatio_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A bus whose CRM is Creatio: every method is served (creatio.order_changed too)."""
    stack = start_bus(tmp_path_factory.mktemp("authorization"), BUS_CRM="creatio")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def client(creatio_bus: Stack) -> Iterator[Rpc]:
    with Rpc(creatio_bus.api_url) as rpc:
        yield rpc


def test_the_rule_names_every_method_the_bus_publishes() -> None:
    assert set(ALLOWED) == set(METHODS)


@pytest.mark.parametrize("key", sorted(EVERY))
@pytest.mark.parametrize("method", sorted(ALLOWED))
def test_each_key_calls_only_its_systems_methods(client: Rpc, method: str, key: str) -> None:
    # Empty params: an allowed call is refused for its params (or answered: rpc.discover), so
    # no call of this test journals anything; a forbidden one never reaches its params.
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if method != "rpc.discover":
        body["params"] = {}
    answer = client.post(body, key=key).json()
    code = answer.get("error", {}).get("code")
    if key in ALLOWED[method]:
        assert code != -32003, answer
        assert code in (None, -32602), answer
    else:
        assert code == -32003, answer
        assert answer["error"]["data"] == {"method": method, "client": key}


@pytest.mark.parametrize("key", sorted(EVERY))
def test_rpc_discover_describes_exactly_the_methods_of_the_key(client: Rpc, key: str) -> None:
    answer = client.post({"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}, key=key).json()
    described = {method["name"] for method in answer["result"]["methods"]}
    assert described == {method for method, keys in ALLOWED.items() if key in keys}


def test_the_readmes_caller_column_says_the_same() -> None:
    """The README's method table (``| `method` | caller | params | result |``) names, for each
    method, the clients the rule allows ("anyone": every client)."""
    text = README.read_text()
    edge = text[text.index("## The JSON-RPC edge") : text.index("### Error codes")]
    said: dict[str, frozenset[str]] = {}
    for line in edge.splitlines():
        row = re.match(r"^\| `([a-z_]+\.[a-z_]+)` \| ([^|]+) \|.*\|.*\|$", line)
        if row is None or row.group(1) not in ALLOWED:
            continue
        caller = row.group(2).lower()
        named = frozenset(re.findall(r"\b(storefront|crm|erp|ops)\b", caller))
        said[row.group(1)] = EVERY if "anyone" in caller else named
    assert said == ALLOWED
