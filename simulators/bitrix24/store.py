"""The portal's CRM data in memory: deals, companies, contacts, product rows, timeline comments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from simulators.bitrix24.envelope import PORTAL_TZ

Record = dict[str, Any]

#: Deal stages of the default pipeline (category 0) and their semantics (P process, S won).
DEAL_STAGES: dict[str, str] = {"NEW": "P", "PREPARATION": "P", "WON": "S", "LOSE": "F"}

#: The ERP's name in a company's ``ORIGINATOR_ID``: companies imported from the ERP carry it,
#: with the ERP's customer key in ``ORIGIN_ID``.
ERP_ORIGINATOR = "erp"
#: The ERP customers every ERP simulator knows (names as Creatio's seed has them).
ERP_CUSTOMERS: dict[str, str] = {
    "10000": "Adatum Corporation",
    "20000": "Trey Research",
    "30000": "Fabrikam",
    "50000": "Relecloud",
}
# The first three keep IDs 1-3 (tests rely on them); the ERP's customers follow from ID 4.
_SEED_COMPANIES: list[Record] = [
    {"TITLE": "Alpha Wholesale LLC", "COMPANY_TYPE": "CUSTOMER"},
    {"TITLE": "Beta Retail JSC", "COMPANY_TYPE": "CUSTOMER"},
    {"TITLE": "Gamma Supply", "COMPANY_TYPE": "SUPPLIER"},
    *(
        {
            "TITLE": title,
            "COMPANY_TYPE": "CUSTOMER",
            "ORIGINATOR_ID": ERP_ORIGINATOR,
            "ORIGIN_ID": key,
        }
        for key, title in ERP_CUSTOMERS.items()
    ),
]
#: The buyer of each ERP customer's company (companies 4-7, in ERP_CUSTOMERS order) follows the
#: first three, whose IDs tests rely on.
_SEED_CONTACTS: list[Record] = [
    {"NAME": "Ivan", "LAST_NAME": "Petrov", "COMPANY_ID": 1},
    {"NAME": "Olga", "LAST_NAME": "Smirnova", "COMPANY_ID": 2},
    {"NAME": "Sergey", "LAST_NAME": "Ivanov", "COMPANY_ID": 3},
    *(
        {"NAME": "Buyer", "LAST_NAME": title.split()[0], "COMPANY_ID": company_id}
        for company_id, title in enumerate(ERP_CUSTOMERS.values(), start=4)
    ),
]


def _deal_defaults() -> Record:
    return {
        "TITLE": "",
        "TYPE_ID": "SALE",
        "STAGE_ID": "NEW",
        "CATEGORY_ID": 0,
        "CURRENCY_ID": "RUB",
        "OPPORTUNITY": 0.0,
        "IS_MANUAL_OPPORTUNITY": False,
        "COMPANY_ID": 0,
        "CONTACT_ID": 0,
        "ASSIGNED_BY_ID": 1,
        "OPENED": True,
        "CLOSED": False,
        "COMMENTS": "",
        "ORIGINATOR_ID": "",
        "ORIGIN_ID": "",
    }


def _company_defaults() -> Record:
    return {
        "TITLE": "",
        "COMPANY_TYPE": "CUSTOMER",
        "ASSIGNED_BY_ID": 1,
        "OPENED": True,
        "ORIGINATOR_ID": "",
        "ORIGIN_ID": "",
    }


def _contact_defaults() -> Record:
    return {"NAME": "", "LAST_NAME": "", "COMPANY_ID": 0, "ASSIGNED_BY_ID": 1, "OPENED": True}


def _comment_defaults() -> Record:
    return {"ENTITY_ID": 0, "ENTITY_TYPE": "", "COMMENT": "", "AUTHOR_ID": 1}


class Table:
    """Records of one entity type with increasing integer IDs (never reused)."""

    def __init__(self, defaults: Callable[[], Record]) -> None:
        self._defaults = defaults
        self.records: dict[int, Record] = {}
        self._next_id = 1

    def add(self, fields: Record) -> int:
        """Store a new record with ``fields`` over the defaults; return its ID."""
        record_id = self._next_id
        self._next_id += 1
        now = datetime.now(PORTAL_TZ)
        self.records[record_id] = {
            **self._defaults(),
            **fields,
            "ID": record_id,
            "DATE_CREATE": now,
            "DATE_MODIFY": now,
        }
        return record_id

    def update(self, record_id: int, fields: Record) -> None:
        """Overwrite ``fields`` of an existing record (the caller checked it exists)."""
        # ID and the dates belong to the portal, whatever the caller sends.
        changes = {k: v for k, v in fields.items() if k not in ("ID", "DATE_CREATE")}
        self.records[record_id].update(changes, DATE_MODIFY=datetime.now(PORTAL_TZ))

    def get(self, record_id: int) -> Record | None:
        """The record or ``None``."""
        return self.records.get(record_id)


class Store:
    """All CRM data of the portal, with a deterministic seed (IDs from 1)."""

    def __init__(self) -> None:
        self.deals = Table(_deal_defaults)
        self.companies = Table(_company_defaults)
        self.contacts = Table(_contact_defaults)
        self.comments = Table(_comment_defaults)
        self.product_rows: dict[int, list[Record]] = {}
        self._next_row_id = 1
        self.reset()

    def reset(self) -> None:
        """Forget everything and load the seed again."""
        self.deals = Table(_deal_defaults)
        self.companies = Table(_company_defaults)
        self.contacts = Table(_contact_defaults)
        self.comments = Table(_comment_defaults)
        self.product_rows = {}
        self._next_row_id = 1
        for company in _SEED_COMPANIES:
            self.companies.add(dict(company))
        for contact in _SEED_CONTACTS:
            self.contacts.add(dict(contact))

    def set_rows(self, deal_id: int, rows: list[Record]) -> None:
        """Replace all product rows of a deal, giving each a new row ID."""
        stored = []
        for row in rows:
            stored.append({**row, "ID": self._next_row_id, "OWNER_ID": deal_id})
            self._next_row_id += 1
        self.product_rows[deal_id] = stored

    def rows(self, deal_id: int) -> list[Record]:
        """The deal's product rows (none for a new deal)."""
        return self.product_rows.get(deal_id, [])
