"""The Creatio simulator speaks Creatio's login, OData 4, $batch and outbound-hook dialect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from simulators.creatio import ORDER_STATUSES, create_app, seed_id

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


async def test_list_query_options(creatio: Client, csrf: dict[str, str]) -> None:
    query = "$filter=Code ge '20000' or startswith(Name,'adatum')&$select=Code,Name"
    resp = await creatio.get(
        f"/0/odata/Account?{query}&$orderby=Code desc&$top=2&$skip=1&$count=true", headers=csrf
    )
    body = await resp.json()
    assert body["@odata.context"].endswith("/0/odata/$metadata#Account(Code,Name)")
    assert body["@odata.count"] == 3
    assert body["value"] == [
        {"Code": "20000", "Name": "Trey Research"},
        {"Code": "10000", "Name": "Adatum Corporation"},
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
