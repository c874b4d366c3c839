"""The Bitrix24 simulator speaks the portal's REST dialect over an incoming webhook."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from simulators.bitrix24 import B24_KEY, create_app
from simulators.bitrix24.params import normalise, parse_query_string

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[[web.Application], Awaitable[Client]]

BASE = "/rest/1/bus-webhook-code"
TIME_KEYS = {
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating_reset_at",
    "operating",
}


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def b24(aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(create_app())


async def call(client: Client, method: str, params: dict[str, Any] | None = None) -> Any:
    response = await client.post(f"{BASE}/{method}.json", json=params or {})
    assert response.status == 200, await response.text()
    return await response.json()


async def add_deal(client: Client, **fields: Any) -> int:
    body = await call(client, "crm.deal.add", {"fields": {"TITLE": "Deal", **fields}})
    assert isinstance(body["result"], int)
    return int(body["result"])


async def test_wrong_code_or_user_is_no_auth(b24: Client) -> None:
    for path in ("/rest/1/wrong/crm.deal.list", "/rest/2/bus-webhook-code/crm.deal.list"):
        response = await b24.get(path)
        assert response.status == 401
        assert await response.json() == {
            "error": "NO_AUTH_FOUND",
            "error_description": "Wrong authorization data",
        }


def test_php_brackets_parse_into_nested_params() -> None:
    parsed = normalise(
        parse_query_string(
            "FIELDS[TITLE]=x&select[]=ID&select[]=title&filter[>ID]=10&rows[0][PRODUCT_ID]=5"
        )
    )
    assert parsed == {
        "fields": {"TITLE": "x"},
        "select": ["ID", "TITLE"],
        "filter": {">ID": "10"},
        "rows": [{"PRODUCT_ID": "5"}],
    }


async def test_query_json_and_form_encodings_are_equal(b24: Client) -> None:
    for n in range(12):
        await add_deal(b24, TITLE=f"Deal {n}")
    query = "filter[>ID]=10&select[]=ID&select[]=TITLE&order[ID]=DESC"
    via_query = await (await b24.get(f"{BASE}/crm.deal.list?{query}")).json()
    via_form = await (
        await b24.post(
            f"{BASE}/crm.deal.list",
            data=query,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    ).json()
    via_json = await call(
        b24,
        "CRM.DEAL.LIST",
        {"FILTER": {">ID": "10"}, "SELECT": ["ID", "TITLE"], "ORDER": {"ID": "DESC"}},
    )
    expected = [{"ID": "12", "TITLE": "Deal 11"}, {"ID": "11", "TITLE": "Deal 10"}]
    for body in (via_query, via_form, via_json):
        assert body["result"] == expected
        assert body["total"] == 2


async def test_envelope_time_block(b24: Client) -> None:
    body = await call(b24, "crm.deal.add", {"fields": {"TITLE": "x"}})
    assert body["result"] == 1
    assert set(body["time"]) == TIME_KEYS
    assert isinstance(body["time"]["start"], float)
    assert body["time"]["date_start"].endswith("+03:00")
    assert "total" not in body and "next" not in body


async def test_deal_get_stringifies_values(b24: Client) -> None:
    deal_id = await add_deal(
        b24, OPPORTUNITY=15400, COMPANY_ID=1, ORIGIN_ID="msg-1", ORIGINATOR_ID="bus"
    )
    deal = (await call(b24, "crm.deal.get", {"id": deal_id}))["result"]
    assert deal["ID"] == str(deal_id)
    assert deal["OPPORTUNITY"] == "15400.00"
    assert deal["COMPANY_ID"] == "1"
    assert deal["OPENED"] == "Y" and deal["CLOSED"] == "N"
    assert deal["STAGE_ID"] == "NEW" and deal["STAGE_SEMANTIC_ID"] == "P"
    assert deal["DATE_CREATE"].endswith("+03:00")
    assert (deal["ORIGIN_ID"], deal["ORIGINATOR_ID"]) == ("msg-1", "bus")
    found = await call(b24, "crm.deal.list", {"filter": {"ORIGIN_ID": "msg-1"}})
    assert [d["ID"] for d in found["result"]] == [str(deal_id)]


async def test_update_changes_fields(b24: Client) -> None:
    deal_id = await add_deal(b24)
    body = await call(b24, "crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "WON"}})
    assert body["result"] is True
    deal = (await call(b24, "crm.deal.get", {"id": deal_id}))["result"]
    assert (deal["STAGE_ID"], deal["STAGE_SEMANTIC_ID"]) == ("WON", "S")


async def test_paging_total_next_and_start_minus_one(b24: Client) -> None:
    # Straight into the store: 120 calls would overflow the 50-request bucket.
    for n in range(120):
        b24.app[B24_KEY].store.deals.add({"TITLE": f"D{n}"})
    page = {"order": {"ID": "ASC"}, "select": ["ID"]}
    first = await call(b24, "crm.deal.list", page)
    assert (len(first["result"]), first["total"], first["next"]) == (50, 120, 50)
    second = await call(b24, "crm.deal.list", {**page, "start": 50})
    assert second["result"][0]["ID"] == "51" and second["next"] == 100
    last = await call(b24, "crm.deal.list", {**page, "start": 100})
    assert len(last["result"]) == 20 and "next" not in last and last["total"] == 120
    fast = await call(b24, "crm.deal.list", {**page, "start": -1, "filter": {">ID": 100}})
    assert fast["total"] == 0 and "next" not in fast
    assert [d["ID"] for d in fast["result"]] == [str(n) for n in range(101, 121)]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({">=OPPORTUNITY": 200}, ["2", "3"]),
        ({">OPPORTUNITY": 200}, ["3"]),
        ({"<=OPPORTUNITY": 200}, ["1", "2"]),
        ({"<OPPORTUNITY": 200}, ["1"]),
        ({"=STAGE_ID": "WON"}, ["2"]),
        ({"!=STAGE_ID": "WON"}, ["1", "3"]),
        ({"!STAGE_ID": "NEW"}, ["2", "3"]),
        ({"@ID": [1, 3]}, ["1", "3"]),
        ({"!@ID": [1, 3]}, ["2"]),
        ({"%TITLE": "beta"}, ["2"]),
        ({"=%TITLE": "Al%"}, ["1"]),
        ({"STAGE_ID": "NEW", "COMPANY_ID": 1}, ["1"]),
    ],
)
async def test_list_filters(b24: Client, condition: dict[str, Any], expected: list[str]) -> None:
    await add_deal(b24, TITLE="Alpha", OPPORTUNITY=100, STAGE_ID="NEW", COMPANY_ID=1)
    await add_deal(b24, TITLE="Beta", OPPORTUNITY=200, STAGE_ID="WON", COMPANY_ID=1)
    await add_deal(b24, TITLE="Gamma", OPPORTUNITY=300, STAGE_ID="PREPARATION", COMPANY_ID=2)
    body = await call(b24, "crm.deal.list", {"filter": condition, "select": ["ID"]})
    assert [d["ID"] for d in body["result"]] == expected


async def test_list_order_and_select_star(b24: Client) -> None:
    await add_deal(b24, TITLE="b", UF_CRM_1="x")
    await add_deal(b24, TITLE="a")
    body = await call(b24, "crm.deal.list", {"order": {"TITLE": "ASC"}, "select": ["*"]})
    assert [d["TITLE"] for d in body["result"]] == ["a", "b"]
    assert "UF_CRM_1" not in body["result"][1] and "STAGE_ID" in body["result"][1]
    body = await call(b24, "crm.deal.list", {"order": {"ID": "DESC"}, "select": ["UF_*"]})
    assert body["result"] == [{"ID": "2"}, {"ID": "1", "UF_CRM_1": "x"}]


async def test_productrows_set_replaces_rows(b24: Client) -> None:
    deal_id = await add_deal(b24)
    rows = [{"PRODUCT_ID": 5, "PRICE": 100, "QUANTITY": 2}, {"PRODUCT_ID": 6, "PRICE": 10}]
    await call(b24, "crm.deal.productrows.set", {"id": deal_id, "rows": rows})
    body = await call(
        b24, "crm.deal.productrows.set", {"id": deal_id, "rows": [{"PRODUCT_ID": 7, "PRICE": 3}]}
    )
    assert body["result"] is True
    got = (await call(b24, "crm.deal.productrows.get", {"id": deal_id}))["result"]
    assert len(got) == 1
    row = got[0]
    assert row["ID"] == "3" and row["OWNER_ID"] == str(deal_id) and row["OWNER_TYPE"] == "D"
    assert (row["PRODUCT_ID"], row["PRICE"], row["QUANTITY"]) == (7, 3.0, 1.0)
    deal = (await call(b24, "crm.deal.get", {"id": deal_id}))["result"]
    assert deal["OPPORTUNITY"] == "3.00"


async def test_seeded_companies_and_contacts(b24: Client) -> None:
    companies = await call(b24, "crm.company.list", {"select": ["ID", "TITLE"]})
    assert companies["total"] == 7
    assert companies["result"][0] == {"ID": "1", "TITLE": "Alpha Wholesale LLC"}
    new_id = (await call(b24, "crm.company.add", {"fields": {"TITLE": "New"}}))["result"]
    assert new_id == 8
    contact_id = (
        await call(b24, "crm.contact.add", {"fields": {"NAME": "A", "PHONE": [{"VALUE": "1"}]}})
    )["result"]
    contact = (await call(b24, "crm.contact.get", {"id": contact_id}))["result"]
    assert contact["NAME"] == "A" and contact["PHONE"][0]["VALUE"] == "1"
    company = (await call(b24, "crm.company.get", {"id": 2}))["result"]
    assert company["TITLE"] == "Beta Retail JSC"


async def test_each_erp_customers_company_has_a_contact(b24: Client) -> None:
    for company_id, name in (("4", "Adatum"), ("7", "Relecloud")):
        found = await call(
            b24,
            "crm.contact.list",
            {"filter": {"COMPANY_ID": company_id}, "select": ["ID", "LAST_NAME"]},
        )
        assert [c["LAST_NAME"] for c in found["result"]] == [name]


async def test_a_deal_keeps_its_company_contact_and_product_rows_with_their_measure(
    b24: Client,
) -> None:
    fields = {"TITLE": "T", "COMPANY_ID": 4, "CONTACT_ID": 7, "OPPORTUNITY": 134.4}
    deal_id = (await call(b24, "crm.deal.add", {"fields": fields}))["result"]
    deal = (await call(b24, "crm.deal.get", {"id": deal_id}))["result"]
    assert (deal["COMPANY_ID"], deal["CONTACT_ID"], deal["OPPORTUNITY"]) == ("4", "7", "134.40")
    row = {"PRODUCT_NAME": "1002", "PRICE": 67.2, "QUANTITY": 2}
    boxes = {**row, "MEASURE_CODE": 778, "MEASURE_NAME": "BOX"}
    await call(b24, "crm.deal.productrows.set", {"id": deal_id, "rows": [boxes, row]})
    rows = (await call(b24, "crm.deal.productrows.get", {"id": deal_id}))["result"]
    # A row without a measure gets the portal's default (pieces).
    assert [(r["MEASURE_CODE"], r["MEASURE_NAME"]) for r in rows] == [(778, "BOX"), (796, "pcs")]


async def test_erp_customers_are_companies_found_by_origin_id(b24: Client) -> None:
    for key, company_id in (("10000", "4"), ("20000", "5"), ("30000", "6"), ("50000", "7")):
        found = await call(
            b24, "crm.company.list", {"filter": {"ORIGIN_ID": key}, "select": ["ID"]}
        )
        assert found["result"] == [{"ID": company_id}]
        company = (await call(b24, "crm.company.get", {"id": company_id}))["result"]
        assert company["ORIGINATOR_ID"] == "erp" and company["ORIGIN_ID"] == key
    assert (await call(b24, "crm.company.list", {"filter": {"ORIGIN_ID": "99999"}}))["result"] == []
    # Companies not from the ERP show the fields empty, as the portal does.
    assert (await call(b24, "crm.company.get", {"id": 1}))["result"]["ORIGIN_ID"] == ""


async def test_company_update_changes_fields(b24: Client) -> None:
    before = (await call(b24, "crm.company.get", {"id": 4}))["result"]
    body = await call(
        b24, "crm.company.update", {"id": "4", "fields": {"TITLE": "Adatum Ltd", "ID": 99}}
    )
    assert body["result"] is True
    after = (await call(b24, "crm.company.get", {"id": 4}))["result"]
    assert after["TITLE"] == "Adatum Ltd" and after["ID"] == "4"
    assert after["ORIGIN_ID"] == "10000" and after["DATE_CREATE"] == before["DATE_CREATE"]


async def test_timeline_comments_are_added_and_listed_per_entity(b24: Client) -> None:
    deal_id = await add_deal(b24)
    first = await call(
        b24,
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": 4, "ENTITY_TYPE": "company", "COMMENT": "first"}},
    )
    assert first["result"] == 1
    # PHP brackets in a form body, and the type in any case.
    form = await b24.post(
        f"{BASE}/crm.timeline.comment.add",
        data="fields[ENTITY_ID]=4&fields[ENTITY_TYPE]=COMPANY&fields[COMMENT]=second",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (await form.json())["result"] == 2
    await call(
        b24,
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal", "COMMENT": "on the deal"}},
    )
    listed = await call(
        b24, "crm.timeline.comment.list", {"filter": {"ENTITY_ID": "4", "ENTITY_TYPE": "company"}}
    )
    assert listed["total"] == 2
    assert [c["COMMENT"] for c in listed["result"]] == ["first", "second"]
    comment = listed["result"][0]
    assert set(comment) == {"ID", "CREATED", "ENTITY_ID", "ENTITY_TYPE", "AUTHOR_ID", "COMMENT"}
    assert (comment["ID"], comment["ENTITY_ID"], comment["ENTITY_TYPE"]) == ("1", "4", "company")
    assert comment["CREATED"].endswith("+03:00")
    newest = await call(
        b24,
        "crm.timeline.comment.list",
        {
            "filter": {"ENTITY_ID": deal_id, "ENTITY_TYPE": "Deal"},
            "select": ["COMMENT"],
            "order": {"ID": "DESC"},
        },
    )
    assert newest["result"] == [{"ID": "3", "COMMENT": "on the deal"}]
    await b24.post("/_control/reset")
    after_reset = await call(
        b24, "crm.timeline.comment.list", {"filter": {"ENTITY_ID": 4, "ENTITY_TYPE": "company"}}
    )
    assert after_reset["result"] == []


async def test_batch_substitution_and_empty_maps(b24: Client) -> None:
    deal_id = await add_deal(b24, TITLE="Batch")
    await call(b24, "crm.deal.productrows.set", {"id": deal_id, "rows": [{"PRICE": 9}]})
    body = await call(
        b24,
        "batch",
        {
            "halt": 0,
            "cmd": {
                "d": f"crm.deal.get?id={deal_id}",
                "rows": "crm.deal.productrows.get?id=$result[d][ID]",
                "l": "crm.deal.list?select[]=ID&filter[ID]=$result[d][ID]",
            },
        },
    )
    result = body["result"]
    assert result["result"]["d"]["TITLE"] == "Batch"
    assert result["result"]["rows"][0]["PRICE"] == 9.0
    assert result["result"]["l"] == [{"ID": str(deal_id)}]
    assert result["result_error"] == [] and result["result_next"] == []
    assert result["result_total"] == {"l": 1}
    assert set(result["result_time"]["d"]) >= {"start", "finish", "duration"}


async def test_batch_errors_and_halt(b24: Client) -> None:
    cmd = {"a": "crm.deal.get?id=999", "b": "batch?cmd[x]=crm.deal.list", "c": "crm.deal.list"}
    body = (await call(b24, "batch", {"halt": 0, "cmd": cmd}))["result"]
    assert body["result_error"]["a"] == {"error": "", "error_description": "Not found"}
    assert body["result_error"]["b"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert list(body["result"]) == ["c"]
    halted = (await call(b24, "batch", {"halt": 1, "cmd": cmd}))["result"]
    assert list(halted["result_error"]) == ["a"] and halted["result"] == []
    many = {f"k{n}": "crm.company.get?id=1" for n in range(52)}
    long_batch = (await call(b24, "batch", {"cmd": many}))["result"]
    assert len(long_batch["result"]) == 50
    assert long_batch["result_error"]["k51"]["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"


async def test_batch_as_form(b24: Client) -> None:
    response = await b24.post(
        f"{BASE}/batch",
        data={"halt": "0", "cmd[c]": "crm.company.get?id=1"},
    )
    body = await response.json()
    assert body["result"]["result"]["c"]["ID"] == "1"


async def test_rate_limit_with_fake_clock(aiohttp_client: ClientFactory) -> None:
    clock = FakeClock()
    client = await aiohttp_client(create_app(capacity=3, drain_per_second=2.0, clock=clock))
    batch = {"cmd": {f"k{n}": "crm.company.get?id=1" for n in range(10)}}
    for _ in range(3):
        assert (await client.post(f"{BASE}/batch", json=batch)).status == 200
    response = await client.get(f"{BASE}/crm.deal.list")
    assert response.status == 503
    assert await response.json() == {
        "error": "QUERY_LIMIT_EXCEEDED",
        "error_description": "Too many requests",
    }
    clock.now += 0.5  # drains one request
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 200
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 503
    await client.post("/_control/reset")
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 200


async def test_the_bucket_is_resized_and_emptied_by_control(aiohttp_client: ClientFactory) -> None:
    clock = FakeClock()
    client = await aiohttp_client(create_app(capacity=50, drain_per_second=2.0, clock=clock))
    for _ in range(5):
        assert (await client.get(f"{BASE}/crm.deal.list")).status == 200
    resized = await client.post(
        "/_control/bitrix24/limits", json={"capacity": 2, "drain_per_second": 4}
    )
    assert await resized.json() == {"capacity": 2, "drain_per_second": 4.0}
    # Emptied: two go, the third is refused; a quarter of a second drains one at 4/s.
    assert [(await client.get(f"{BASE}/crm.deal.list")).status for _ in range(3)] == [
        200,
        200,
        503,
    ]
    clock.now += 0.25
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 200
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 503
    # Each part is optional: the other stays as it was.
    kept = await client.post("/_control/bitrix24/limits", json={"capacity": 3})
    assert await kept.json() == {"capacity": 3, "drain_per_second": 4.0}
    served = await client.get("/_control/received")
    statuses = [r["status"] for r in (await served.json())["requests"]]
    assert statuses == [200] * 5 + [200, 200, 503, 200, 503]


@pytest.mark.parametrize(
    "spec",
    [{"capacity": 0}, {"capacity": 1.5}, {"capacity": True}, {"drain_per_second": 0}, [1]],
)
async def test_limits_need_a_size_and_a_drain(b24: Client, spec: Any) -> None:
    response = await b24.post("/_control/bitrix24/limits", json=spec)
    assert response.status == 400


@pytest.mark.parametrize(
    ("method", "params", "status", "error"),
    [
        ("crm.deal.nothing", {}, 404, ["ERROR_METHOD_NOT_FOUND", "Method not found!"]),
        ("crm.deal.add", {"fields": "x"}, 400, ["", "Parameter 'fields' must be array."]),
        ("crm.deal.add", {}, 400, ["", "Parameter 'fields' must be array."]),
        ("crm.deal.get", {}, 400, ["", "ID is not defined or invalid"]),
        ("crm.deal.get", {"id": "abc"}, 400, ["", "ID is not defined or invalid"]),
        ("crm.deal.get", {"id": 77}, 400, ["", "Not found"]),
        ("crm.deal.update", {"id": 77, "fields": {}}, 400, ["", "Not found"]),
        ("crm.company.update", {"id": 77, "fields": {}}, 400, ["", "Not found"]),
        (
            "crm.company.update",
            {"id": "x", "fields": {}},
            400,
            ["", "ID is not defined or invalid"],
        ),
        ("crm.company.update", {"id": 1}, 400, ["", "Parameter 'fields' must be array."]),
        (
            "crm.timeline.comment.add",
            {"fields": {"ENTITY_ID": 77, "ENTITY_TYPE": "company", "COMMENT": "x"}},
            400,
            ["", "Not found"],
        ),
        (
            "crm.timeline.comment.add",
            {"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "invoice", "COMMENT": "x"}},
            400,
            ["", "ENTITY_TYPE is not defined or invalid."],
        ),
        (
            "crm.timeline.comment.add",
            {"fields": {"ENTITY_TYPE": "company", "COMMENT": "x"}},
            400,
            ["", "ENTITY_ID is not defined or invalid."],
        ),
        (
            "crm.timeline.comment.add",
            {"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "company", "COMMENT": " "}},
            400,
            ["", "COMMENT is not defined or invalid."],
        ),
        ("crm.timeline.comment.list", {}, 400, ["", "ENTITY_TYPE is not defined or invalid."]),
        (
            "crm.timeline.comment.list",
            {"filter": {"ENTITY_TYPE": "deal"}},
            400,
            ["", "ENTITY_ID is not defined or invalid."],
        ),
    ],
)
async def test_errors(
    b24: Client, method: str, params: dict[str, Any], status: int, error: list[str]
) -> None:
    response = await b24.post(f"{BASE}/{method}", json=params)
    assert response.status == status
    assert await response.json() == {"error": error[0], "error_description": error[1]}


async def test_discount_rate_without_sum_is_error_core(b24: Client) -> None:
    deal_id = await add_deal(b24)
    rows = [{"PRODUCT_ID": 1, "PRICE": 90, "DISCOUNT_TYPE_ID": 1, "DISCOUNT_RATE": 10}]
    response = await b24.post(
        f"{BASE}/crm.deal.productrows.set", json={"id": deal_id, "rows": rows}
    )
    assert response.status == 400
    assert (await response.json())["error"] == "ERROR_CORE"


async def test_injected_fault_uses_bitrix_envelope(b24: Client) -> None:
    await b24.post("/_control/faults", json={"mode": "status", "status": 503, "times": 1})
    response = await b24.get(f"{BASE}/crm.deal.list")
    assert response.status == 503
    assert (await response.json())["error"] == "QUERY_LIMIT_EXCEEDED"


async def test_a_fault_every_third_request_fails_a_third_of_them(b24: Client) -> None:
    fault = {"mode": "status", "status": 500, "every": 3, "match": "crm.deal.list"}
    await b24.post("/_control/faults", json=fault)
    statuses = [(await b24.get(f"{BASE}/crm.deal.list")).status for _ in range(9)]
    assert statuses == [200, 200, 500] * 3
    assert (await b24.get(f"{BASE}/crm.company.list")).status == 200  # not matching, not counted
    assert (await b24.get(f"{BASE}/crm.deal.list")).status == 200


async def test_update_posts_form_encoded_event(aiohttp_client: ClientFactory) -> None:
    received: list[tuple[str, dict[str, str]]] = []
    arrived = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        received.append((request.content_type, {k: str(v) for k, v in form.items()}))
        arrived.set()
        return web.Response(text="ok")

    receiver_app = web.Application()
    receiver_app.router.add_post("/hook", handler)
    receiver = await aiohttp_client(receiver_app)
    b24 = await aiohttp_client(create_app())
    url = str(receiver.make_url("/hook"))
    response = await b24.post(
        "/_control/bitrix24/subscribe", json={"url": url, "application_token": "tok"}
    )
    assert (await response.json())["event_handler_id"] == 1
    deal_id = await add_deal(b24)
    await call(b24, "crm.deal.update", {"id": deal_id, "fields": {"TITLE": "changed"}})
    await asyncio.wait_for(arrived.wait(), 5)
    content_type, form = received[0]
    assert content_type == "application/x-www-form-urlencoded"
    assert form["event"] == "ONCRMDEALUPDATE"
    assert form["event_handler_id"] == "1"
    assert form["data[FIELDS][ID]"] == str(deal_id)
    assert form["auth[application_token]"] == "tok"
    assert form["ts"].isdigit()
    assert {"auth[domain]", "auth[client_endpoint]", "auth[server_endpoint]"} <= set(form)
    assert "auth[member_id]" in form

    arrived.clear()
    edited = await b24.post(
        "/_control/bitrix24/edit_deal", json={"id": deal_id, "fields": {"STAGE_ID": "WON"}}
    )
    assert edited.status == 200
    await asyncio.wait_for(arrived.wait(), 5)
    assert len(received) == 2
    deal = (await call(b24, "crm.deal.get", {"id": deal_id}))["result"]
    assert deal["STAGE_ID"] == "WON"
    await b24.app[B24_KEY].events.drain()


# --- OAuth application: /rest/{method}?auth= -----------------------------------------------


async def _issue_token(client: Client) -> dict[str, Any]:
    response = await client.post("/_control/bitrix24/oauth/token")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def test_control_issues_a_token_pair_like_the_oauth_server(b24: Client) -> None:
    pair = await _issue_token(b24)
    assert pair["expires_in"] == 3600
    assert pair["access_token"] and pair["refresh_token"]
    assert pair["access_token"] != pair["refresh_token"]
    assert pair["client_endpoint"].endswith("/rest/")
    assert {"member_id", "server_endpoint", "scope", "status", "expires"} <= set(pair)


async def test_oauth_calls_take_auth_in_query_form_or_json(b24: Client) -> None:
    token = (await _issue_token(b24))["access_token"]
    via_query = await b24.get("/rest/crm.company.get.json", params={"id": "1", "auth": token})
    via_form = await b24.post("/rest/crm.company.get", data={"id": "1", "auth": token})
    via_json = await b24.post("/rest/CRM.COMPANY.GET", json={"ID": 1, "AUTH": token})
    for response in (via_query, via_form, via_json):
        assert response.status == 200, await response.text()
        assert (await response.json())["result"]["TITLE"] == "Alpha Wholesale LLC"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}),
        (
            {"auth": "not-a-token"},
            {
                "error": "invalid_token",
                "error_description": "The access token provided is invalid.",
            },
        ),
    ],
)
async def test_oauth_calls_without_a_known_token_are_401(
    b24: Client, params: dict[str, str], error: dict[str, str]
) -> None:
    response = await b24.get("/rest/crm.deal.list", params=params)
    assert response.status == 401
    assert await response.json() == error


EXPIRED = {"error": "expired_token", "error_description": "The access token provided has expired."}


async def test_expired_token_then_refresh_gives_a_working_pair(b24: Client) -> None:
    pair = await _issue_token(b24)
    expire = await b24.post("/_control/bitrix24/oauth/expire")
    assert await expire.json() == {"expired": 1}
    response = await b24.get("/rest/crm.deal.list", params={"auth": pair["access_token"]})
    assert response.status == 401
    assert await response.json() == EXPIRED

    grant = {
        "grant_type": "refresh_token",
        "client_id": "local.bus-app",
        "client_secret": "bus-app-secret",
        "refresh_token": pair["refresh_token"],
    }
    refreshed = await b24.get("/oauth/token/", params=grant)
    assert refreshed.status == 200
    new_pair = await refreshed.json()
    assert new_pair["expires_in"] == 3600
    assert new_pair["refresh_token"] != pair["refresh_token"]
    response = await b24.post("/rest/crm.deal.list", data={"auth": new_pair["access_token"]})
    assert response.status == 200

    reused = await b24.post("/oauth/token/", data=grant)
    assert reused.status == 400
    assert (await reused.json())["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"refresh_token": "unknown"}, "invalid_grant"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
    ],
)
async def test_refresh_refusals(b24: Client, changes: dict[str, str], error: str) -> None:
    pair = await _issue_token(b24)
    grant = {
        "grant_type": "refresh_token",
        "client_id": "local.bus-app",
        "client_secret": "bus-app-secret",
        "refresh_token": pair["refresh_token"],
        **changes,
    }
    response = await b24.get("/oauth/token/", params=grant)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == error and body["error_description"]


async def test_access_tokens_expire_on_the_clock(aiohttp_client: ClientFactory) -> None:
    clock = FakeClock()
    client = await aiohttp_client(create_app(clock=clock, token_ttl=60))
    first = await _issue_token(client)
    clock.now += 30
    second = await _issue_token(client)
    clock.now += 30
    old = await client.get("/rest/crm.deal.list", params={"auth": first["access_token"]})
    assert old.status == 401 and await old.json() == EXPIRED
    new = await client.get("/rest/crm.deal.list", params={"auth": second["access_token"]})
    assert new.status == 200
    expire = await client.post(
        "/_control/bitrix24/oauth/expire", json={"access_token": second["access_token"]}
    )
    assert await expire.json() == {"expired": 1}


# --- .xml format ----------------------------------------------------------------------------


async def test_xml_suffix_answers_in_xml(b24: Client) -> None:
    deal_id = await add_deal(b24, TITLE="<Wine & Co>", OPPORTUNITY=10)
    response = await b24.get(f"{BASE}/crm.deal.get.xml", params={"id": str(deal_id)})
    assert response.status == 200 and response.content_type == "text/xml"
    root = ET.fromstring(await response.text())
    assert root.tag == "response"
    assert root.findtext("result/TITLE") == "<Wine & Co>"
    assert root.findtext("result/OPPORTUNITY") == "10.00"
    assert root.find("time/start") is not None

    listed = await b24.get(f"{BASE}/crm.deal.list.xml", params={"select[]": "ID"})
    items = ET.fromstring(await listed.text()).findall("result/item")
    assert [item.findtext("ID") for item in items] == [str(deal_id)]

    missing = await b24.get(f"{BASE}/crm.deal.get.xml", params={"id": "999"})
    assert missing.status == 400
    error = ET.fromstring(await missing.text())
    assert error.findtext("error_description") == "Not found"


# --- operating budget -----------------------------------------------------------------------

OPERATION_TIME_LIMIT = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}


async def test_operating_budget_blocks_a_method_until_the_window_moves(
    aiohttp_client: ClientFactory,
) -> None:
    clock = FakeClock()
    client = await aiohttp_client(create_app(clock=clock, operating_budget=420))
    cost = await client.post(
        "/_control/bitrix24/operating_cost", json={"method": "CRM.DEAL.LIST", "seconds": 100}
    )
    assert await cost.json() == {"costs": {"crm.deal.list": 100.0}}
    for n in range(1, 6):
        body = await call(client, "crm.deal.list")
        assert body["time"]["operating"] == 100.0 * n
    blocked = await client.get(f"{BASE}/crm.deal.list")
    assert blocked.status == 429
    assert await blocked.json() == OPERATION_TIME_LIMIT
    # Other methods have budgets of their own; in a batch the blocked command fails alone.
    assert (await client.get(f"{BASE}/crm.company.list")).status == 200
    batch = await call(
        client, "batch", {"cmd": {"a": "crm.deal.list", "b": "crm.company.get?id=1"}}
    )
    assert batch["result"]["result_error"] == {"a": OPERATION_TIME_LIMIT}
    assert list(batch["result"]["result"]) == ["b"]

    # The calls at 1000 s went into the 1-minute bucket [960, 1020), which leaves the
    # 10-bucket window at 1560 s.
    clock.now = 1559
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 429
    clock.now = 1560
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 200


async def test_operating_reset_at_points_at_the_oldest_bucket(
    aiohttp_client: ClientFactory,
) -> None:
    clock = FakeClock()  # 1000 s: the bucket [960, 1020) drops at 1560
    client = await aiohttp_client(create_app(clock=clock))
    body = await call(client, "crm.deal.list")
    reset_in = body["time"]["operating_reset_at"] - body["time"]["start"]
    assert 559 <= reset_in <= 560


async def test_reset_clears_the_operating_budget(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(clock=FakeClock(), operating_budget=1))
    await client.post(
        "/_control/bitrix24/operating_cost", json={"method": "crm.deal.list", "seconds": 5}
    )
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 200
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 429
    await client.post("/_control/reset")
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 200
    assert (await client.get(f"{BASE}/crm.deal.list")).status == 200


@pytest.mark.parametrize("spec", [{"method": "crm.deal.list"}, {"seconds": 1}, {"seconds": -1}])
async def test_operating_cost_needs_method_and_seconds(b24: Client, spec: dict[str, Any]) -> None:
    response = await b24.post("/_control/bitrix24/operating_cost", json=spec)
    assert response.status == 400


# --- events on add and product rows ---------------------------------------------------------


async def _event_receiver(
    aiohttp_client: ClientFactory,
) -> tuple[str, asyncio.Queue[dict[str, str]]]:
    arrivals: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        arrivals.put_nowait({k: str(v) for k, v in form.items()})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handler)
    receiver = await aiohttp_client(app)
    return str(receiver.make_url("/hook")), arrivals


async def test_deal_add_and_productrows_set_fire_their_events(
    aiohttp_client: ClientFactory,
) -> None:
    url, arrivals = await _event_receiver(aiohttp_client)
    b24 = await aiohttp_client(create_app())
    subscribed = []
    for event in ("oncrmdealadd", None):
        spec = {"url": url, "application_token": "tok"}
        response = await b24.post(
            "/_control/bitrix24/subscribe", json=spec if event is None else {**spec, "event": event}
        )
        subscribed.append(await response.json())
    assert subscribed == [
        {"event_handler_id": 1, "event": "ONCRMDEALADD"},
        {"event_handler_id": 2, "event": "ONCRMDEALUPDATE"},
    ]

    deal_id = await add_deal(b24)
    added = await asyncio.wait_for(arrivals.get(), 5)
    assert (added["event"], added["event_handler_id"]) == ("ONCRMDEALADD", "1")
    assert added["data[FIELDS][ID]"] == str(deal_id)
    assert added["auth[application_token]"] == "tok" and added["ts"].isdigit()

    await call(b24, "crm.deal.productrows.set", {"id": deal_id, "rows": [{"PRICE": 5}]})
    updated = await asyncio.wait_for(arrivals.get(), 5)
    assert (updated["event"], updated["event_handler_id"]) == ("ONCRMDEALUPDATE", "2")
    assert updated["data[FIELDS][ID]"] == str(deal_id)
    await b24.app[B24_KEY].events.drain()
    assert arrivals.empty()  # one event per call, each to its own handler


async def test_subscribe_refuses_unknown_events(b24: Client) -> None:
    response = await b24.post(
        "/_control/bitrix24/subscribe",
        json={"url": "http://x/hook", "application_token": "t", "event": "ONCRMLEADADD"},
    )
    assert response.status == 400
