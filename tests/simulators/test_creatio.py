"""The Creatio simulator speaks Creatio's login, OData 4, $batch and outbound-hook dialect."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from email import policy
from email.message import MIMEPart
from email.parser import BytesParser
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from simulators.creatio import ORDER_STATUSES, create_app, seed_id
from simulators.creatio.hooks import HOOKS_KEY

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

LOGIN = "/ServiceModel/AuthService.svc/Login"
ACCOUNT_10000 = seed_id("Account:10000")


async def _login(client: Client, password: str = "Supervisor") -> dict[str, str]:
    resp = await client.post(LOGIN, json={"UserName": "Supervisor", "UserPassword": password})
    assert resp.status == 200
    body = await resp.json()
    assert body["Code"] == 0, body
    return {"BPMCSRF": resp.cookies["BPMCSRF"].value}


@pytest.fixture
async def creatio(aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(create_app())


@pytest.fixture
async def csrf(creatio: Client) -> dict[str, str]:
    return await _login(creatio)


async def test_login_sets_cookies(creatio: Client) -> None:
    resp = await creatio.post(LOGIN, json={"UserName": "Supervisor", "UserPassword": "Supervisor"})
    assert await resp.json() == {
        "Code": 0,
        "Message": "",
        "Exception": None,
        "PasswordChangeUrl": None,
        "RedirectUrl": None,
    }
    assert {".ASPXAUTH", "BPMCSRF", "BPMLOADER", "UserName", "BPMSESSIONID"} <= set(resp.cookies)


async def test_bad_password_is_200_with_code_1(creatio: Client) -> None:
    resp = await creatio.post(LOGIN, json={"UserName": "Supervisor", "UserPassword": "nope"})
    assert resp.status == 200
    body = await resp.json()
    assert body["Code"] == 1 and body["Exception"]["Message"] and body["Message"]
    assert not resp.cookies


async def test_missing_csrf_or_session_is_401(creatio: Client, csrf: dict[str, str]) -> None:
    resp = await creatio.get("/0/odata/Account")
    assert resp.status == 401
    assert await resp.json() == {
        "Message": "Authentication failed.",
        "StackTrace": None,
        "ExceptionType": "System.InvalidOperationException",
    }
    assert (await creatio.get("/0/odata/Account", headers={"BPMCSRF": "wrong"})).status == 401
    assert (await creatio.get("/0/odata/Account", headers=csrf)).status == 200


async def test_expire_sessions_control_and_ttl(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(session_ttl=0.0))
    headers = await _login(client)
    assert (await client.get("/0/odata/Account", headers=headers)).status == 401

    client = await aiohttp_client(create_app())
    headers = await _login(client)
    assert (await client.get("/odata/Account", headers=headers)).status == 200
    assert (await client.post("/_control/creatio/expire_sessions")).status == 200
    assert (await client.get("/odata/Account", headers=headers)).status == 401
    headers = await _login(client)
    assert (await client.get("/odata/Account", headers=headers)).status == 200


@pytest.mark.parametrize("root", ["/0/odata", "/odata"])
async def test_crud(creatio: Client, csrf: dict[str, str], root: str) -> None:
    order = {
        "Code": "msg-1",
        "AccountId": ACCOUNT_10000,
        "StatusId": ORDER_STATUSES["New"],
        "Amount": 12.5,
    }
    resp = await creatio.post(f"{root}/Order", json=order, headers=csrf)
    assert resp.status == 201
    created = await resp.json()
    assert created["@odata.context"].endswith(f"{root}/$metadata#Order/$entity")
    assert created["Amount"] == 12.5 and created["Code"] == "msg-1"
    assert created["Number"].startswith("ORD-") and created["CreatedOn"] and created["ModifiedOn"]
    key = created["Id"]

    resp = await creatio.patch(f"{root}/Order({key})", json={"Comment": "rush"}, headers=csrf)
    assert resp.status == 204
    resp = await creatio.get(f"{root}/Order({key})", headers=csrf)
    got = await resp.json()
    assert got["Comment"] == "rush" and got["@odata.context"].endswith("#Order/$entity")

    resp = await creatio.get(f"{root}/Order?$filter=Code eq 'msg-1'", headers=csrf)
    assert [row["Id"] for row in (await resp.json())["value"]] == [key]

    assert (await creatio.delete(f"{root}/Order({key})", headers=csrf)).status == 204
    resp = await creatio.get(f"{root}/Order({key})", headers=csrf)
    assert resp.status == 404
    assert (await resp.json())["error"]["innererror"]["internalexception"]["message"]


async def test_an_order_row_takes_a_unit_of_measure_by_its_lookup(
    creatio: Client, csrf: dict[str, str]
) -> None:
    root = "/0/odata"
    resp = await creatio.get(f"{root}/Unit?$filter=ShortName eq 'BOX'", headers=csrf)
    [box] = (await resp.json())["value"]
    assert (box["Name"], box["ShortName"]) == ("Box", "BOX")
    order = await (await creatio.post(f"{root}/Order", json={"Code": "u"}, headers=csrf)).json()
    row = {"OrderId": order["Id"], "Name": "1002", "Quantity": 2, "Price": 67.2, "Amount": 134.4}
    resp = await creatio.post(
        f"{root}/OrderProduct", json={**row, "UnitId": box["Id"]}, headers=csrf
    )
    assert resp.status == 201
    resp = await creatio.get(
        f"{root}/OrderProduct?$filter=OrderId eq {order['Id']}&$expand=Unit", headers=csrf
    )
    [stored] = (await resp.json())["value"]
    assert (stored["Unit"]["ShortName"], stored["Price"], stored["Amount"]) == ("BOX", 67.2, 134.4)
    unknown = {**row, "UnitId": str(uuid.uuid4())}
    resp = await creatio.post(f"{root}/OrderProduct", json=unknown, headers=csrf)
    assert resp.status == 400  # a lookup to no unit is a foreign key violation


async def test_list_query_options(creatio: Client, csrf: dict[str, str]) -> None:
    query = "$filter=Code ge '20000' or startswith(Name,'adatum')&$select=Code,Name"
    resp = await creatio.get(
        f"/0/odata/Account?{query}&$orderby=Code desc&$top=2&$skip=1&$count=true", headers=csrf
    )
    body = await resp.json()
    assert body["@odata.context"].endswith("/0/odata/$metadata#Account(Code,Name)")
    assert body["@odata.count"] == 4
    assert body["value"] == [
        {"Code": "30000", "Name": "Fabrikam"},
        {"Code": "20000", "Name": "Trey Research"},
    ]
    resp = await creatio.get(
        f"/0/odata/Contact?$filter=AccountId eq {ACCOUNT_10000} and contains(Email,'10000')"
        "&$expand=Account&$select=Name",
        headers=csrf,
    )
    (contact,) = (await resp.json())["value"]
    assert contact["Account"]["Code"] == "10000"


async def test_ieee754_compatible_numbers_are_strings(
    creatio: Client, csrf: dict[str, str]
) -> None:
    headers = {**csrf, "Content-Type": "application/json; IEEE754Compatible=true"}
    resp = await creatio.post(
        "/0/odata/Order", data='{"Amount": "99.90", "Code": "x"}', headers=headers
    )
    assert resp.status == 201
    assert (await resp.json())["Amount"] == "99.90"
    resp = await creatio.get("/0/odata/Order?$filter=Amount gt 50", headers=csrf)
    assert [row["Amount"] for row in (await resp.json())["value"]] == [99.9]


async def test_errors(creatio: Client, csrf: dict[str, str]) -> None:
    assert (await creatio.get("/0/odata/Nope", headers=csrf)).status == 401
    resp = await creatio.post("/0/odata/Contact", json={"Bogus": 1}, headers=csrf)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "" and "Bogus" in error["message"]
    assert set(error["innererror"]) == {"message", "type", "stacktrace", "internalexception"}
    resp = await creatio.get("/0/odata/Account?$filter=Name eq 10", headers=csrf)
    assert resp.status == 400


async def _batch(client: Client, headers: dict[str, str], prefer: str | None) -> list[Any]:
    requests = [
        {"method": "POST", "url": "Contact", "id": "1", "body": {"Name": "A"}},
        {
            "method": "GET",
            "url": "/0/odata/Contact(00000000-0000-0000-0000-0000000000ff)",
            "id": "2",
        },
        {"method": "PATCH", "url": f"Account({ACCOUNT_10000})", "id": "3", "body": {"Notes": "x"}},
    ]
    if prefer:
        headers = {**headers, "Prefer": prefer}
    resp = await client.post("/0/odata/$batch", json={"requests": requests}, headers=headers)
    assert resp.status == 200
    return list((await resp.json())["responses"])


async def test_batch_stops_on_error(creatio: Client, csrf: dict[str, str]) -> None:
    responses = await _batch(creatio, csrf, None)
    assert [(r["id"], r["status"]) for r in responses] == [("1", 201), ("2", 404)]
    assert responses[0]["body"]["Name"] == "A"


async def test_batch_continue_on_error(creatio: Client, csrf: dict[str, str]) -> None:
    responses = await _batch(creatio, csrf, "continue-on-error")
    assert [r["status"] for r in responses] == [201, 404, 204]


async def test_batch_limit(creatio: Client, csrf: dict[str, str]) -> None:
    requests = [{"method": "GET", "url": "Account", "id": str(n)} for n in range(101)]
    resp = await creatio.post("/odata/$batch", json={"requests": requests}, headers=csrf)
    assert resp.status == 400


async def test_injected_fault_uses_odata_envelope(creatio: Client, csrf: dict[str, str]) -> None:
    await creatio.post("/_control/faults", json={"mode": "error", "status": 500, "times": 1})
    resp = await creatio.get("/0/odata/Account", headers=csrf)
    assert resp.status == 500
    assert "innererror" in (await resp.json())["error"]


async def test_outbound_hook(aiohttp_client: ClientFactory, creatio: Client) -> None:
    received: list[tuple[str | None, Any]] = []

    async def bus(request: web.Request) -> web.Response:
        received.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({"jsonrpc": "2.0", "id": "x", "result": {}})

    target = web.Application()
    target.router.add_post("/rpc", bus)
    bus_client = await aiohttp_client(target)
    url = str(bus_client.make_url("/rpc"))
    await creatio.post("/_control/creatio/hook", json={"url": url, "key": "k1"})

    resp = await creatio.post(
        "/_control/creatio/account_created", json={"account_id": ACCOUNT_10000}
    )
    assert resp.status == 200
    resp = await creatio.post(
        "/_control/creatio/account_deactivated", json={"account_id": ACCOUNT_10000}
    )
    assert resp.status == 200

    (auth1, create), (auth2, deactivate) = received
    assert auth1 == auth2 == "Bearer k1"
    assert create["jsonrpc"] == "2.0" and create["method"] == "account.create"
    assert create["params"]["erp_key"] == "10000"
    assert create["params"]["name"] == "Adatum Corporation"
    assert create["params"]["contacts"][0]["email"] == "buyer@10000.example.com"
    assert deactivate["method"] == "account.deactivate"
    assert deactivate["params"] == {"erp_key": "10000"}
    calls = (await (await creatio.get("/_control/creatio/hook_calls")).json())["calls"]
    assert [c["status"] for c in calls] == [200, 200]


# --- $metadata ------------------------------------------------------------------------------

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@pytest.mark.parametrize("root", ["/0/odata", "/odata"])
async def test_metadata_describes_types_and_sets(
    creatio: Client, csrf: dict[str, str], root: str
) -> None:
    assert (await creatio.get(f"{root}/$metadata")).status == 401
    resp = await creatio.get(f"{root}/$metadata", headers=csrf)
    assert resp.status == 200 and resp.content_type == "application/xml"
    assert resp.headers["OData-Version"] == "4.0"
    document = ET.fromstring(await resp.text())
    assert document.get("Version") == "4.0"
    types = {t.get("Name"): t for t in document.iter(f"{EDM}EntityType")}
    assert {"Account", "Contact", "Order", "OrderProduct", "OrderStatus"} <= set(types)
    order = types["Order"]
    assert [r.get("Name") for r in order.iter(f"{EDM}PropertyRef")] == ["Id"]
    properties = {p.get("Name"): p.get("Type") for p in order.iter(f"{EDM}Property")}
    assert properties["Id"] == "Edm.Guid" and properties["Amount"] == "Edm.Decimal"
    assert properties["CreatedOn"] == "Edm.DateTimeOffset" and properties["Number"] == "Edm.String"
    navigation = {n.get("Name"): n.get("Type") for n in order.iter(f"{EDM}NavigationProperty")}
    assert navigation["Account"] == "Terrasoft.Configuration.OData.Account"
    assert navigation["Status"] == "Terrasoft.Configuration.OData.OrderStatus"
    container = next(document.iter(f"{EDM}EntityContainer"))
    sets = {s.get("Name"): s for s in container.iter(f"{EDM}EntitySet")}
    assert sets["Contact"].get("EntityType") == "Terrasoft.Configuration.OData.Contact"
    bindings = {b.get("Path"): b.get("Target") for b in sets["Order"]}
    assert bindings["Account"] == "Account"
    assert (await creatio.post(f"{root}/$metadata", headers=csrf)).status == 405


async def test_unknown_columns_name_the_odata_type(creatio: Client, csrf: dict[str, str]) -> None:
    resp = await creatio.get("/0/odata/Account?$select=Bogus", headers=csrf)
    assert resp.status == 400
    message = (await resp.json())["error"]["message"]
    assert "Terrasoft.Configuration.OData.Account" in message


# --- multipart $batch and references --------------------------------------------------------


def _http(method: str, url: str, body: Any = None, content_id: str | None = None) -> str:
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        head.append(f"Content-ID: {content_id}")
    request = [f"{method} {url} HTTP/1.1", "Accept: application/json"]
    if body is not None:
        request.append("Content-Type: application/json")
    payload = "" if body is None else json.dumps(body)
    return "\r\n".join([*head, "", *request, "", payload]) + "\r\n"


def _multipart(boundary: str, parts: list[str]) -> str:
    return "".join(f"--{boundary}\r\n{part}" for part in parts) + f"--{boundary}--\r\n"


def _change_set(boundary: str, parts: list[str]) -> str:
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n" + _multipart(
        boundary, parts
    )


async def _post_multipart(
    client: Client, headers: dict[str, str], body: str, root: str = "/0/odata"
) -> list[MIMEPart]:
    resp = await client.post(
        f"{root}/$batch",
        data=body.encode(),
        headers={**headers, "Content-Type": "multipart/mixed; boundary=batch_1"},
    )
    assert resp.status == 200, await resp.text()
    content_type = resp.headers["Content-Type"]
    assert content_type.startswith("multipart/mixed; boundary=batchresponse_")
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + await resp.read()
    message = BytesParser(policy=policy.HTTP).parsebytes(raw)
    assert message.is_multipart()
    return list(message.iter_parts())


def _inner(part: MIMEPart) -> tuple[int, dict[str, str], Any]:
    """The status, headers and JSON body of an application/http response part."""
    assert part.get_content_type() == "application/http"
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    head, _, body = payload.replace(b"\r\n", b"\n").partition(b"\n\n")
    status_line, *header_lines = head.decode().split("\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body) if body.strip() else None


async def test_multipart_batch_with_a_change_set_and_references(
    creatio: Client, csrf: dict[str, str]
) -> None:
    body = _multipart(
        "batch_1",
        [
            _http("GET", f"Account({ACCOUNT_10000})?$select=Name"),
            _change_set(
                "changeset_1",
                [
                    _http("POST", "Order", {"Code": "mp-1", "AccountId": ACCOUNT_10000}, "1"),
                    _http("PATCH", "$1", {"Comment": "via reference"}, "2"),
                ],
            ),
            _http("GET", "/0/odata/Order?$filter=Code%20eq%20'mp-1'&$select=Code,Comment"),
        ],
    )
    first, change_set, last = await _post_multipart(creatio, csrf, body)
    status, headers, account = _inner(first)
    assert status == 200 and account["Name"] == "Adatum Corporation"
    assert headers["OData-Version"] == "4.0"
    assert change_set.get_content_type() == "multipart/mixed"
    created, patched = list(change_set.iter_parts())
    assert created["Content-ID"] == "1" and patched["Content-ID"] == "2"
    status, headers, order = _inner(created)
    assert status == 201 and order["Code"] == "mp-1"
    assert headers["Location"].endswith(f"/0/odata/Order({order['Id']})")
    assert _inner(patched)[0] == 204
    status, _, found = _inner(last)
    assert status == 200 and found["value"] == [{"Code": "mp-1", "Comment": "via reference"}]


async def test_failed_change_set_is_rolled_back_and_stops_the_batch(
    creatio: Client, csrf: dict[str, str]
) -> None:
    body = _multipart(
        "batch_1",
        [
            _change_set(
                "cs",
                [
                    _http("POST", "Contact", {"Name": "Rolled back"}, "a"),
                    _http("POST", "Contact", {"Bogus": 1}, "b"),
                ],
            ),
            _http("GET", "Contact"),
        ],
    )
    (only,) = await _post_multipart(creatio, csrf, body, root="/odata")
    assert only["Content-ID"] == "b"
    status, _, error = _inner(only)
    assert status == 400 and "Bogus" in error["error"]["message"]
    resp = await creatio.get("/odata/Contact?$filter=Name eq 'Rolled back'", headers=csrf)
    assert (await resp.json())["value"] == []

    kept = await _post_multipart(
        creatio, {**csrf, "Prefer": "odata.continue-on-error"}, body, root="/odata"
    )
    assert [_inner(part)[0] for part in kept] == [400, 200]


async def test_get_in_a_change_set_or_a_torn_body_is_a_bad_request(
    creatio: Client, csrf: dict[str, str]
) -> None:
    headers = {**csrf, "Content-Type": "multipart/mixed; boundary=batch_1"}
    with_get = _multipart("batch_1", [_change_set("cs", [_http("GET", "Account")])])
    torn = _multipart("batch_1", [_http("GET", "Account")]).removesuffix("--batch_1--\r\n")
    for body in (with_get, torn, "--batch_1\r\nContent-Type: text/plain\r\n\r\nx\r\n--batch_1--"):
        resp = await creatio.post("/0/odata/$batch", data=body.encode(), headers=headers)
        assert resp.status == 400
        assert (await resp.json())["error"]["message"]


async def test_json_batch_references_earlier_creates(creatio: Client, csrf: dict[str, str]) -> None:
    requests = [
        {"method": "POST", "url": "Order", "id": "o", "body": {"Code": "ref-1"}},
        {"method": "PATCH", "url": "$o", "id": "p", "body": {"Comment": "patched"}},
        {"method": "GET", "url": "$o?$select=Code,Comment", "id": "g"},
        {"method": "GET", "url": "$nope", "id": "x"},
    ]
    resp = await creatio.post(
        "/0/odata/$batch",
        json={"requests": requests},
        headers={**csrf, "Prefer": "continue-on-error"},
    )
    responses = (await resp.json())["responses"]
    assert [r["status"] for r in responses] == [201, 204, 200, 400]
    assert responses[2]["body"]["Comment"] == "patched"
    assert "$nope" in responses[3]["body"]["error"]["message"]


# --- the order-changed business process -----------------------------------------------------

Received = list[dict[str, Any]]


@pytest.fixture
async def hooked(aiohttp_client: ClientFactory, creatio: Client) -> Received:
    """A bus stand-in registered as the hook target; the JSON-RPC requests it received."""
    received: Received = []

    async def bus(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == "Bearer k1"
        received.append(await request.json())
        return web.json_response({"jsonrpc": "2.0", "id": "x", "result": {"message_id": "M1"}})

    target = web.Application()
    target.router.add_post("/rpc", bus)
    url = str((await aiohttp_client(target)).make_url("/rpc"))
    await creatio.post("/_control/creatio/hook", json={"url": url, "key": "k1"})
    return received


async def _settled(creatio: Client) -> None:
    """Wait until the processes started in the background have made their calls."""
    await creatio.app[HOOKS_KEY].drain()


async def _new_order(creatio: Client, csrf: dict[str, str]) -> dict[str, Any]:
    body = {"Number": "SO-1", "AccountId": ACCOUNT_10000, "StatusId": ORDER_STATUSES["New"]}
    resp = await creatio.post("/0/odata/Order", json=body, headers=csrf)
    assert resp.status == 201
    return dict(await resp.json())


async def _modified_on(creatio: Client, csrf: dict[str, str], order_id: str) -> str:
    resp = await creatio.get(f"/0/odata/Order({order_id})?$select=ModifiedOn", headers=csrf)
    return str((await resp.json())["ModifiedOn"])


async def test_creating_an_order_does_not_start_the_process(
    creatio: Client, csrf: dict[str, str], hooked: Received
) -> None:
    await _new_order(creatio, csrf)
    await _settled(creatio)
    assert hooked == []


async def test_an_order_patch_calls_the_bus_with_order_changed(
    creatio: Client, csrf: dict[str, str], hooked: Received
) -> None:
    order = await _new_order(creatio, csrf)
    patch = {"StatusId": ORDER_STATUSES["Completed"]}
    resp = await creatio.patch(f"/0/odata/Order({order['Id']})", json=patch, headers=csrf)
    assert resp.status == 204
    await _settled(creatio)
    [call] = hooked
    assert call["jsonrpc"] == "2.0" and call["method"] == "creatio.order_changed"
    modified_on = await _modified_on(creatio, csrf, order["Id"])
    assert call["params"] == {"order_id": order["Id"], "modified_on": modified_on}
    resp = await creatio.get(f"/0/odata/Order({order['Id']})?$expand=Status", headers=csrf)
    assert (await resp.json())["Status"]["Name"] == "Completed"
    [recorded] = (await (await creatio.get("/_control/creatio/hook_calls")).json())["calls"]
    assert recorded["status"] == 200 and recorded["request"] == call
    assert recorded["response"]["result"] == {"message_id": "M1"}


async def test_order_product_changes_call_it_for_their_order(
    creatio: Client, csrf: dict[str, str], hooked: Received
) -> None:
    order = await _new_order(creatio, csrf)
    row = {"OrderId": order["Id"], "Name": "1000", "Quantity": 2, "Price": 5}
    resp = await creatio.post("/0/odata/OrderProduct", json=row, headers=csrf)
    assert resp.status == 201
    row_id = (await resp.json())["Id"]
    resp = await creatio.patch(
        f"/0/odata/OrderProduct({row_id})", json={"Quantity": 3}, headers=csrf
    )
    assert resp.status == 204
    assert (await creatio.delete(f"/0/odata/OrderProduct({row_id})", headers=csrf)).status == 204
    await _settled(creatio)
    assert [c["params"]["order_id"] for c in hooked] == [order["Id"]] * 3
    assert {c["method"] for c in hooked} == {"creatio.order_changed"}
    assert len({c["id"] for c in hooked}) == 3


async def test_a_batch_calls_once_per_order_and_a_rolled_back_change_set_not_at_all(
    creatio: Client, csrf: dict[str, str], hooked: Received
) -> None:
    # As the bus's order.create does: the order, then its rows, in one JSON $batch.
    order_id = "5f0c2a8e-1111-4c1f-9d2a-6b1f3e0c2a10"
    requests = [
        {"method": "POST", "url": "Order", "id": "o", "body": {"Id": order_id, "Number": "SO-2"}},
        *(
            {"method": "POST", "url": "OrderProduct", "id": item, "body": row}
            for item, row in [
                ("1", {"OrderId": order_id, "Name": "1000"}),
                ("2", {"OrderId": order_id, "Name": "1002"}),
            ]
        ),
    ]
    resp = await creatio.post("/0/odata/$batch", json={"requests": requests}, headers=csrf)
    assert [r["status"] for r in (await resp.json())["responses"]] == [201, 201, 201]
    await _settled(creatio)
    assert [c["params"]["order_id"] for c in hooked] == [order_id]

    body = _multipart(
        "batch_1",
        [
            _change_set(
                "cs",
                [
                    _http("PATCH", f"Order({order_id})", {"Comment": "rolled back"}, "a"),
                    _http("POST", "Contact", {"Bogus": 1}, "b"),
                ],
            )
        ],
    )
    (only,) = await _post_multipart(creatio, csrf, body)
    assert _inner(only)[0] == 400
    await _settled(creatio)
    assert len(hooked) == 1


async def test_the_control_route_starts_it_by_hand(
    creatio: Client, csrf: dict[str, str], hooked: Received
) -> None:
    order = await _new_order(creatio, csrf)
    resp = await creatio.post("/_control/creatio/order_changed", json={"order_id": order["Id"]})
    assert resp.status == 200
    record = await resp.json()
    assert record["status"] == 200 and record["response"]["result"] == {"message_id": "M1"}
    assert record["request"]["method"] == "creatio.order_changed"
    assert record["request"]["params"] == {
        "order_id": order["Id"],
        "modified_on": order["ModifiedOn"],
    }
    assert hooked == [record["request"]]
    unknown = {"order_id": "00000000-0000-0000-0000-0000000000ff"}
    assert (await creatio.post("/_control/creatio/order_changed", json=unknown)).status == 404


async def test_without_a_hook_a_change_still_succeeds_and_is_not_reported_later(
    creatio: Client, csrf: dict[str, str], aiohttp_client: ClientFactory
) -> None:
    order = await _new_order(creatio, csrf)
    patch = {"Comment": "edited before any process existed"}
    resp = await creatio.patch(f"/0/odata/Order({order['Id']})", json=patch, headers=csrf)
    assert resp.status == 204
    by_hand = {"order_id": order["Id"]}
    assert (await creatio.post("/_control/creatio/order_changed", json=by_hand)).status == 409
    received: Received = []

    async def bus(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"jsonrpc": "2.0", "id": "x", "result": {}})

    target = web.Application()
    target.router.add_post("/rpc", bus)
    url = str((await aiohttp_client(target)).make_url("/rpc"))
    await creatio.post("/_control/creatio/hook", json={"url": url, "key": "k"})
    await creatio.get("/0/odata/Order", headers=csrf)
    await _settled(creatio)
    assert received == []


async def test_the_answer_neither_waits_for_the_bus_nor_fails_with_it(
    creatio: Client, csrf: dict[str, str], aiohttp_client: ClientFactory
) -> None:
    release = asyncio.Event()

    async def stuck_bus(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"jsonrpc": "2.0", "id": "x", "result": {}})

    target = web.Application()
    target.router.add_post("/rpc", stuck_bus)
    url = str((await aiohttp_client(target)).make_url("/rpc"))
    await creatio.post("/_control/creatio/hook", json={"url": url, "key": "k"})
    order = await _new_order(creatio, csrf)
    patch = {"Comment": "while the bus hangs"}
    resp = await creatio.patch(f"/0/odata/Order({order['Id']})", json=patch, headers=csrf)
    assert resp.status == 204  # answered while the call is still under way
    assert (await (await creatio.get("/_control/creatio/hook_calls")).json())["calls"] == []
    release.set()
    await _settled(creatio)

    with socket.socket() as free:  # a port nothing listens on: the bus is down
        free.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{free.getsockname()[1]}/rpc"
    await creatio.post("/_control/creatio/hook", json={"url": down, "key": "k"})
    resp = await creatio.patch(f"/0/odata/Order({order['Id']})", json=patch, headers=csrf)
    assert resp.status == 204
    await _settled(creatio)
    calls = (await (await creatio.get("/_control/creatio/hook_calls")).json())["calls"]
    assert [c["status"] for c in calls] == [200, None]
    assert calls[1]["url"] == down and calls[1]["error"]
