"""Deterministic demo data: a beverage wholesaler's counterparties, goods, prices and orders.

The codes match the NAV simulator's customer and item numbers: counterparties 10000-50000
(in a folder "Покупатели"; 10000 in the price group "Сети", 20000 in "HoReCa", 40000 marked for
deletion, 10000 and 30000 with an alcohol licence, 50000 a sole trader without КПП) and goods
1000-1005 (wine, 1005 marked for deletion), 1100-1102 (water) and 1200-1202 (accessories), some
sold only in packs (``КратностьУпаковки`` > 1), which are also their units of measure
(``Catalog_ЕдиницыИзмерения``: a box of 6 or 24 bottles, code ``BOX``). Prices are per base unit
(a bottle, a piece) and cover every price kind, older periods, a current and an expired
promotion. Every counterparty ships from its ``ОсновнойСклад``
("Основной склад", 30000 from "Склад Красногорск"). Contracts (``Catalog_ДоговорыКонтрагентов``)
tell what a counterparty buys: 20000 has one per product type (water, alcohol, accessories),
10000 one for alcohol, 50000 one for water, one for alcohol and an accessories one marked for
deletion.
Stock (``AccumulationRegister_ТоварыНаСкладах``, in base units) came in with two receipts in
October 2026, one per warehouse, and went out with the shipment of order УТ-000101 and a
write-off: the same magnitudes as NAV's inventory (1000: 480 bottles, 1200: 150 pieces of which
30 in Красногорск, 1201: 150 packs of 6 glasses), and 1005, marked for deletion, written off to 0.
Ref_Keys are uuid5 of :data:`NAMESPACE` and ``"<entity set>:<code or number>"``, so they survive
a reset and a restart.
"""

from __future__ import annotations

import uuid
from typing import Any

from simulators.onec.schema import (
    CONTRACTS,
    COUNTERPARTIES,
    EMPTY_DATE,
    EMPTY_REF,
    ITEMS,
    ORDERS,
    RECORD_SET,
    UNITS,
)

#: The namespace of every Ref_Key the simulator makes.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://simulators.bus/onec")
#: Price kinds (ВидЦены): everybody's, per counterparty, and the promotion.
BASE_KIND = "Базовая"
INDIVIDUAL_KIND = "Индивидуальная"
PROMO_KIND = "Акция"
CURRENCY = "RUB"
#: The first order number the series hands out after the two seeded orders.
NEXT_ORDER_NUMBER = 103
#: The warehouse most counterparties ship from.
MAIN_WAREHOUSE = "Основной склад"
#: The warehouse that ships 30000's orders.
KRASNOGORSK_WAREHOUSE = "Склад Красногорск"


def ref_key(entity_set: str, name: str) -> str:
    """The deterministic Ref_Key of the object ``name`` (a code or number) of ``entity_set``."""
    return str(uuid.uuid5(NAMESPACE, f"{entity_set}:{name}"))


def counterparty_ref(code: str) -> str:
    """The Ref_Key of the seeded counterparty with this code."""
    return ref_key(COUNTERPARTIES, code)


def contract_ref(code: str) -> str:
    """The Ref_Key of the seeded contract with this code."""
    return ref_key(CONTRACTS, code)


def item_ref(code: str) -> str:
    """The Ref_Key of the seeded item with this code."""
    return ref_key(ITEMS, code)


def unit_ref(item: str, code: str) -> str:
    """The Ref_Key of the seeded unit ``code`` (``BOX``) of the item with code ``item``."""
    return ref_key(UNITS, f"{item}/{code}")


def order_ref(number: str) -> str:
    """The Ref_Key of the seeded order with this number."""
    return ref_key(ORDERS, number)


FOLDER_CODE = "00000"


def _counterparty(
    code: str,
    name: str,
    full_name: str,
    inn: str,
    kpp: str,
    price_group: str = "",
    licence: tuple[str, str] = ("", ""),
    deleted: bool = False,
    warehouse: str = MAIN_WAREHOUSE,
) -> dict[str, Any]:
    return {
        "Ref_Key": counterparty_ref(code),
        "DeletionMark": deleted,
        "Parent_Key": counterparty_ref(FOLDER_CODE),
        "Code": code,
        "Description": name,
        "ИНН": inn,
        "КПП": kpp,
        "НаименованиеПолное": full_name,
        "ЛицензияНаАлкоголь": licence[0],
        "АдресЛицензии": licence[1],
        "ГруппаЦен": price_group,
        "ОсновнойСклад": warehouse,
    }


COUNTERPARTY_ROWS: list[dict[str, Any]] = [
    # A folder, as real catalogs have: clients must filter IsFolder eq false.
    {
        "Ref_Key": counterparty_ref(FOLDER_CODE),
        "IsFolder": True,
        "Code": FOLDER_CODE,
        "Description": "Покупатели",
    },
    _counterparty(
        "10000",
        "Адатум",
        "Общество с ограниченной ответственностью «Адатум»",
        "7701234567",
        "770101001",
        "Сети",
        ("77РПА0012345", "г. Москва, Рыночная пл., д. 192"),
    ),
    _counterparty(
        "20000",
        "Трей Бистро",
        "Общество с ограниченной ответственностью «Трей Рисерч Бистро»",
        "7812345678",
        "781201001",
        "HoReCa",
    ),
    _counterparty(
        "30000",
        "Школа изящных искусств",
        "Автономная некоммерческая организация «Школа изящных искусств»",
        "5024123456",
        "502401001",
        licence=("50РПА0067890", "Московская обл., г. Красногорск, ул. Высокая, д. 10"),
        warehouse=KRASNOGORSK_WAREHOUSE,
    ),
    _counterparty(
        "40000",
        "Альпийский лыжный дом",
        "Общество с ограниченной ответственностью «Альпийский лыжный дом»",
        "6612345670",
        "661201001",
        deleted=True,
    ),
    _counterparty(
        "50000",
        "ИП Облаков Р. Р.",
        "Индивидуальный предприниматель Облаков Роман Романович",
        "503212345678",
        "",
    ),
]


#: ``ВидПродукции`` values and how a contract's name says them.
_PRODUCTS = {"water": "воды", "alcohol": "алкогольной продукции", "accessories": "аксессуаров"}


def _contract(owner: str, code: str, product: str, deleted: bool = False) -> dict[str, Any]:
    return {
        "Ref_Key": contract_ref(code),
        "DeletionMark": deleted,
        "Code": code,
        "Description": f"Договор поставки {_PRODUCTS[product]}",
        "Owner_Key": counterparty_ref(owner),
        "ВидДоговора": "СПокупателем",
        "ВидПродукции": product,
        "Склад": MAIN_WAREHOUSE,
    }


CONTRACT_ROWS: list[dict[str, Any]] = [
    _contract("10000", "Д-10000-А", "alcohol"),
    _contract("20000", "Д-20000-В", "water"),
    _contract("20000", "Д-20000-А", "alcohol"),
    _contract("20000", "Д-20000-П", "accessories"),
    _contract("50000", "Д-50000-В", "water"),
    _contract("50000", "Д-50000-А", "alcohol"),
    # A contract given up: 1C keeps it, marked for deletion, until someone purges it.
    _contract("50000", "Д-50000-П", "accessories", deleted=True),
]


def _item(
    code: str,
    name: str,
    article: str,
    kind: str,
    pack: int = 1,
    unit: str = "шт",
    deleted: bool = False,
) -> dict[str, Any]:
    return {
        "Ref_Key": item_ref(code),
        "DeletionMark": deleted,
        "Code": code,
        "Description": name,
        "Артикул": article,
        "ЕдиницаИзмерения": unit,
        "ВидНоменклатуры": kind,
        "КратностьУпаковки": pack,
    }


_WINE, _WATER, _ACCESSORY = "Алкоголь", "Вода", "Аксессуары"

ITEM_ROWS: list[dict[str, Any]] = [
    _item("1000", "Бордо Руж 2019, 0,75 л", "BDX-19-075", _WINE),
    _item("1001", "Шабли Премье Крю 2020, 0,75 л", "CHB-20-075", _WINE),
    _item("1002", "Риоха Резерва 2017, 0,75 л", "RIO-17-075", _WINE, pack=6),
    _item("1003", "Просекко DOC Брют, 0,75 л", "PRS-NV-075", _WINE, pack=6),
    _item("1004", "Шампанское Брют NV, 0,75 л", "CHM-NV-075", _WINE),
    _item("1005", "Рислинг Кабинет 2021, 0,75 л", "RSL-21-075", _WINE, deleted=True),
    _item("1100", "Вода минеральная негазированная, 0,5 л", "MW-S-050", _WATER, pack=24),
    _item("1101", "Вода минеральная газированная, 0,5 л", "MW-G-050", _WATER, pack=24),
    _item("1102", "Вода минеральная негазированная, 1,5 л", "MW-S-150", _WATER, pack=6),
    _item("1200", "Штопор сомелье", "ACC-CORK", _ACCESSORY),
    _item("1201", "Бокалы для бордо, 0,6 л (6 шт.)", "ACC-GLS6", _ACCESSORY, unit="уп"),
    _item("1202", "Ведёрко для льда, сталь", "ACC-ICE", _ACCESSORY),
]


def _unit(item: str, code: str, name: str, coefficient: float) -> dict[str, Any]:
    return {
        "Ref_Key": unit_ref(item, code),
        "DeletionMark": False,
        "Owner_Key": item_ref(item),
        "Code": code,
        "Description": name,
        "Коэффициент": coefficient,
    }


#: The packs the goods sold in packs come in, as units of measure of their own (the base unit,
#: a bottle or a piece, is the item's ``ЕдиницаИзмерения``).
UNIT_ROWS: list[dict[str, Any]] = [
    _unit("1002", "BOX", "кор (6 бут)", 6),
    _unit("1003", "BOX", "кор (6 бут)", 6),
    _unit("1100", "BOX", "кор (24 бут)", 24),
    _unit("1101", "BOX", "кор (24 бут)", 24),
    _unit("1102", "BOX", "кор (6 бут)", 6),
]


def _price(
    code: str,
    kind: str,
    price: float,
    period: str,
    customer: str | None = None,
    until: str = EMPTY_DATE,
) -> dict[str, Any]:
    return {
        "Period": f"{period}T00:00:00",
        "Номенклатура_Key": item_ref(code),
        "ВидЦены": kind,
        "Контрагент_Key": counterparty_ref(customer) if customer else EMPTY_REF,
        "Цена": price,
        "Валюта": CURRENCY,
        "ДействуетДо": until,
    }


_BASE = [
    ("1000", 1390, "2025-01-01"),
    ("1000", 1490, "2026-01-01"),
    ("1001", 2290, "2025-01-01"),
    ("1001", 2450, "2026-01-01"),
    ("1002", 1120, "2026-01-01"),
    ("1003", 930, "2025-01-01"),
    ("1003", 980, "2026-01-01"),
    ("1004", 3900, "2026-01-01"),
    ("1005", 1240, "2025-01-01"),
    ("1100", 45, "2026-01-01"),
    ("1101", 49, "2026-01-01"),
    ("1102", 85, "2025-01-01"),
    ("1102", 89, "2026-01-01"),
    ("1200", 650, "2026-01-01"),
    ("1201", 2520, "2026-01-01"),
    ("1202", 1890, "2026-01-01"),
]

PRICE_ROWS: list[dict[str, Any]] = [
    *(_price(code, BASE_KIND, price, period) for code, price, period in _BASE),
    # Price-group kinds carry the group's name (Catalog_Контрагенты.ГруппаЦен).
    _price("1000", "Сети", 1420, "2026-01-01"),
    _price("1100", "Сети", 42, "2026-01-01"),
    _price("1101", "Сети", 46, "2026-01-01"),
    _price("1002", "HoReCa", 1010, "2026-01-01"),
    _price("1003", "HoReCa", 940, "2026-01-01"),
    _price("1100", "HoReCa", 40, "2026-01-01"),
    # Individual prices: 10000's was lowered in March 2026; 20000 has one for Prosecco.
    _price("1000", INDIVIDUAL_KIND, 1380, "2025-06-01", customer="10000"),
    _price("1000", INDIVIDUAL_KIND, 1350, "2026-03-01", customer="10000"),
    _price("1003", INDIVIDUAL_KIND, 900, "2026-01-01", customer="20000"),
    # Promotions: champagne for the holidays, an open-ended Rioja one, a November Bordeaux one
    # (lower than base, higher than 10000's individual price) and an expired corkscrew one.
    _price("1004", PROMO_KIND, 3490, "2026-11-01", until="2026-12-31T23:59:59"),
    _price("1002", PROMO_KIND, 1080, "2026-11-15"),
    _price("1000", PROMO_KIND, 1450, "2026-11-01", until="2026-11-30T23:59:59"),
    _price("1200", PROMO_KIND, 490, "2025-06-01", until="2025-08-31T23:59:59"),
]


def _row(line: int, code: str, quantity: float, price: float) -> dict[str, Any]:
    return {
        "LineNumber": line,
        "Номенклатура_Key": item_ref(code),
        "ЕдиницаИзмерения_Key": EMPTY_REF,
        "Коэффициент": 1,
        "Количество": quantity,
        "Цена": price,
        "Сумма": round(quantity * price, 2),
    }


ORDER_ROWS_SEED: list[dict[str, Any]] = [
    {
        "Ref_Key": order_ref("УТ-000101"),
        "Number": "УТ-000101",
        "Date": "2026-11-10T12:00:00",
        "Posted": True,
        "Контрагент_Key": counterparty_ref("10000"),
        "НомерПоДаннымКлиента": "B2B-2026-0041",
        "ДатаОтгрузки": "2026-11-12T00:00:00",
        "АдресДоставки": "г. Москва, Рыночная пл., д. 192",
        "Статус": "КОбеспечению",
        "Товары": [_row(1, "1000", 12, 1350), _row(2, "1100", 48, 42)],
    },
    {
        "Ref_Key": order_ref("УТ-000102"),
        "Number": "УТ-000102",
        "Date": "2026-11-18T09:30:00",
        "Контрагент_Key": counterparty_ref("10000"),
        "НомерПоДаннымКлиента": "B2B-2026-0057",
        "Комментарий": "Позвонить перед доставкой",
        "Товары": [_row(1, "1001", 6, 2450), _row(2, "1200", 2, 650)],
    },
]


def _movements(
    document: str,
    number: str,
    period: str,
    kind: str,
    warehouse: str,
    lines: list[tuple[str, float]],
) -> dict[str, Any]:
    """The record set ``document`` ``number`` wrote to the stock register on posting."""
    rows = [
        {
            "LineNumber": line,
            "Period": period,
            "Active": True,
            "RecordType": kind,
            "Номенклатура_Key": item_ref(code),
            "Склад": warehouse,
            "ВНаличии": quantity,
        }
        for line, (code, quantity) in enumerate(lines, 1)
    ]
    return {
        "Recorder": ref_key(document, number),
        "Recorder_Type": f"StandardODATA.{document}",
        RECORD_SET: rows,
    }


#: The record sets of AccumulationRegister_ТоварыНаСкладах: receipts, a shipment, a write-off.
STOCK_MOVEMENTS: list[dict[str, Any]] = [
    _movements(
        "Document_ПриобретениеТоваровУслуг",
        "ПТ-000011",
        "2026-10-01T09:00:00",
        "Receipt",
        MAIN_WAREHOUSE,
        [
            ("1000", 492),
            ("1001", 240),
            ("1002", 600),
            ("1003", 720),
            ("1004", 100),
            ("1005", 36),
            ("1100", 9648),
            ("1101", 7200),
            ("1102", 3000),
            ("1200", 120),
            ("1201", 150),
            ("1202", 60),
        ],
    ),
    _movements(
        "Document_ПриобретениеТоваровУслуг",
        "ПТ-000012",
        "2026-10-05T10:00:00",
        "Receipt",
        KRASNOGORSK_WAREHOUSE,
        [("1004", 20), ("1200", 30)],
    ),
    # The shipment of order УТ-000101.
    _movements(
        "Document_РеализацияТоваровУслуг",
        "РТ-000031",
        "2026-11-12T10:00:00",
        "Expense",
        MAIN_WAREHOUSE,
        [("1000", 12), ("1100", 48)],
    ),
    # Broken in the warehouse: the whole stock of an item no longer sold.
    _movements(
        "Document_СписаниеНедостачТоваров",
        "СН-000004",
        "2026-11-20T17:00:00",
        "Expense",
        MAIN_WAREHOUSE,
        [("1005", 36)],
    ),
]


#: Mutual settlements per counterparty code, as the HTTP service reports them:
#: balance = receivables - payments_in_progress.
BALANCES: dict[str, dict[str, float]] = {
    "10000": {
        "balance": 162350.5,
        "credit_limit": 2500000,
        "receivables": 177350.5,
        "overdue": 0,
        "payments_in_progress": 15000,
    },
    "20000": {
        "balance": 441090,
        "credit_limit": 5000000,
        "receivables": 441090,
        "overdue": 52000,
        "payments_in_progress": 0,
    },
    "30000": {
        "balance": 0,
        "credit_limit": 1000000,
        "receivables": 0,
        "overdue": 0,
        "payments_in_progress": 0,
    },
    "40000": {
        "balance": 1287500,
        "credit_limit": 500000,
        "receivables": 1287500,
        "overdue": 1287500,
        "payments_in_progress": 0,
    },
    "50000": {
        "balance": 0,
        "credit_limit": 1500000,
        "receivables": 25075,
        "overdue": 0,
        "payments_in_progress": 25075,
    },
}
