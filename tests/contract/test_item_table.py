"""``ErpQueries.items`` against the NAV and 1C simulators: every fact of the item table an order is
checked against (units, pack, category, stock in base units, why an item cannot be ordered), for
many codes in as few requests as the URL allows, with quotes in codes escaped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bus.adapters.erp_queries import ITEM_BLOCKED, ITEM_DELETED, ErpQueries, ItemInfo
from simulators import SIMULATORS
from simulators.onec import item_ref
from tests.contract.test_prices import price_source

NAV_ODATA = "/DynamicsNAV110/ODataV4/Company('CRONUS')"
ONEC_ODATA = "/b2b/odata/standard.odata"
AUTH = ("bus", "bus-secret")
TIMEOUT = 5.0
#: IIS's defaults, which NAV (and often 1C) is published behind: maxQueryString, maxUrl.
MAX_QUERY, MAX_URL = 2048, 4096


@dataclass
class Erp:
    """An ERP simulator, its queries under test, and the requests they sent."""

    system: str
    base: str
    queries: ErpQueries
    control: httpx.AsyncClient
    sent: list[httpx.URL] = field(default_factory=list)

    async def items(self, codes: list[str]) -> dict[str, ItemInfo]:
        self.sent.clear()
        return await self.queries.items(codes, TIMEOUT)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path`` of the ERP's OData root, as the ERP's own users would."""
        root = NAV_ODATA if self.system == "navision" else ONEC_ODATA
        response = await self.control.post(f"{self.base}{root}/{path}", json=body, auth=AUTH)
        created: dict[str, Any] = response.raise_for_status().json()
        return created


@pytest.fixture(params=["navision", "onec"])
async def erp(request: pytest.FixtureRequest, aiohttp_server: Any) -> AsyncIterator[Erp]:
    system: str = request.param
    server = await aiohttp_server(SIMULATORS[system]())
    base = str(server.make_url("")).rstrip("/")
    sent: list[httpx.URL] = []

    async def record(sending: httpx.Request) -> None:
        sent.append(sending.url)

    hooks = {"request": [record]}
    async with httpx.AsyncClient(event_hooks=hooks) as client, httpx.AsyncClient() as control:
        yield Erp(system, base, price_source(system, base, client), control, sent)


async def test_a_known_item_has_its_units_pack_category_and_stock(erp: Erp) -> None:
    found = await erp.items(["1002"])
    if erp.system == "navision":
        # Sold in boxes of 6 bottles: a line without a unit is in boxes, stock is in bottles.
        assert found["1002"] == ItemInfo(
            item="1002",
            description="Rioja Reserva 2017, 0.75 L",
            unit="BOX",
            available=600,
            base_unit="BOTTLE",
            category="WINE",
            units={"BOTTLE": 1, "BOX": 6},
            pack=6,
        )
    else:
        # Counted in bottles, sold only in multiples of 6 (КратностьУпаковки), or in BOX.
        assert found["1002"] == ItemInfo(
            item="1002",
            description="Риоха Резерва 2017, 0,75 л",
            unit="шт",
            available=600,
            base_unit="шт",
            category="Алкоголь",
            units={"шт": 1, "BOX": 6},
            pack=6,
        )
    assert found["1002"].per_unit(None) == (6 if erp.system == "navision" else 1)
    assert found["1002"].per_unit("BOX") == 6


async def test_an_item_sold_in_its_base_unit_has_a_pack_of_one(erp: Erp) -> None:
    corkscrew = (await erp.items(["1200"]))["1200"]
    base = "PCS" if erp.system == "navision" else "шт"
    assert (corkscrew.unit, corkscrew.base_unit, corkscrew.units, corkscrew.pack) == (
        base,
        base,
        {base: 1},
        1,
    )
    assert corkscrew.category == ("ACCESSORY" if erp.system == "navision" else "Аксессуары")


async def test_an_item_that_cannot_be_ordered_says_why(erp: Erp) -> None:
    found = await erp.items(["1005", "1000"])
    # NAV's item 1005 is Blocked; 1C's is marked for deletion (and written off to nothing).
    assert found["1005"].refusal == (ITEM_BLOCKED if erp.system == "navision" else ITEM_DELETED)
    assert found["1005"].blocked and found["1005"].available == 0
    assert found["1000"].refusal is None


async def test_an_unknown_code_is_absent(erp: Erp) -> None:
    found = await erp.items(["1000", "9999", "NOPE"])
    assert set(found) == {"1000"}
    assert await erp.items(["9999"]) == {}


@pytest.mark.parametrize(
    ("item", "stock"),
    [
        ("1000", 480),  # bottles
        ("1100", 9600),  # bottles, though NAV sells it in boxes of 24
        ("1200", 150),  # pieces; in 1C 120 at the main warehouse and 30 in Красногорск
        ("1201", 900),  # NAV: glasses; 1C counts packs of 6 (its base unit уп): 150
    ],
)
async def test_stock_is_in_base_units_over_every_warehouse(
    erp: Erp, item: str, stock: float
) -> None:
    found = (await erp.items([item]))[item]
    expected = 150 if (erp.system, item) == ("onec", "1201") else stock
    assert found.available == expected
    assert isinstance(found.available, float)


async def test_a_code_with_a_quote_is_escaped_and_found(erp: Erp) -> None:
    code = "QU'OTE-1"
    if erp.system == "navision":
        await erp.create(
            "Item",
            {
                "No": code,
                "Description": "Sommelier's knife",
                "Base_Unit_of_Measure": "PCS",
                "Sales_Unit_of_Measure": "PCS",
                "Item_Category_Code": "ACCESSORY",
            },
        )
    else:
        created = await erp.create(
            "Catalog_Номенклатура",
            {
                "Code": code,
                "Description": "Нож сомелье",
                "ЕдиницаИзмерения": "шт",
                "ВидНоменклатуры": "Аксессуары",
                "КратностьУпаковки": 1,
            },
        )
        box = {"Owner_Key": created["Ref_Key"], "Code": "BOX", "Коэффициент": 12}
        await erp.create("Catalog_ЕдиницыИзмерения", box)
    found = await erp.items([code, "O'NOPE", "1000"])
    assert set(found) == {code, "1000"}
    assert (found[code].item, found[code].category) == (
        code,
        "ACCESSORY" if erp.system == "navision" else "Аксессуары",
    )
    if erp.system == "onec":
        assert found[code].units == {"шт": 1, "BOX": 12}
        assert found[code].available == 0  # nothing received yet


async def test_a_few_codes_take_one_request_per_kind_of_data(erp: Erp) -> None:
    found = await erp.items(["1000", "1002", "1100", "1200", "1005"])
    assert len(found) == 5
    # NAV: Item and ItemUnitsOfMeasure. 1C: the catalog, then its units and the stock balance.
    kinds = [url.path.rsplit("/", 1)[-1] for url in erp.sent]
    if erp.system == "navision":
        assert sorted(kinds) == ["Item", "ItemUnitsOfMeasure"]
    else:
        assert kinds[0] == "Catalog_Номенклатура"
        assert sorted(k.split("(")[0] for k in kinds[1:]) == ["Balance", "Catalog_ЕдиницыИзмерения"]
        # Stock is the register's balance per item, summed over the warehouses by 1C itself.
        (balance,) = [url for url in erp.sent if "Balance" in url.path]
        head, _, condition = balance.path.partition("/Balance(Condition='")
        assert head.endswith("/AccumulationRegister_ТоварыНаСкладах")
        clauses, _, rest = condition.rpartition("',")
        assert rest == "Dimensions='Номенклатура')"
        assert sorted(clauses.split(" or ")) == sorted(
            f"Номенклатура_Key eq guid''{item_ref(code)}''"
            for code in ("1000", "1002", "1100", "1200", "1005")
        )


async def test_many_codes_are_read_in_chunks_that_fit_a_url(erp: Erp) -> None:
    real = ["1000", "1001", "1002", "1003", "1004", "1005", "1100", "1101", "1102", "1200"]
    codes = [*real, *(f"X{n:05d}" for n in range(400))]
    found = await erp.items(codes)
    assert set(found) == set(real)
    assert found["1102"].units == (
        {"BOTTLE": 1, "BOX": 6} if erp.system == "navision" else {"шт": 1, "BOX": 6}
    )
    assert found["1200"].available == 150
    # Several requests for the item table, each within IIS's default limits.
    assert len(erp.sent) > 3
    for url in erp.sent:
        assert len(url.query) <= MAX_QUERY, url
        assert len(url.raw_path) <= MAX_URL, url
