"""A 1C:Enterprise 8.3 simulator: the standard OData interface (v3 JSON-light) and an HTTP service.

Everything lives under one publication (``/{publication}/``, default ``b2b``) and needs HTTP
Basic auth (401 with ``WWW-Authenticate: Basic realm="1C"`` otherwise). See :func:`create_app`.

**Standard OData interface** at ``/{publication}/odata/standard.odata/``: the service document
at the root, ``$metadata`` (EDMX, namespace ``StandardODATA``), and the entity sets
``Catalog_Контрагенты``, ``Catalog_ДоговорыКонтрагентов`` (contracts, subordinate to their
counterparty through ``Owner_Key``), ``Catalog_Номенклатура``, ``Catalog_ЕдиницыИзмерения``
(an item's units, ``Owner_Key`` the item, ``Коэффициент`` base units per unit),
``Document_ЗаказКлиента`` (with the inline tabular section ``Товары``),
``Document_ЗаказКлиента_Товары`` (read-only),
``InformationRegister_ЦеныНоменклатуры`` (plus ``/SliceLast(Period=…, Condition='…')``) and
the stock register ``AccumulationRegister_ТоварыНаСкладах`` (record sets by ``Recorder``, read
only; dimensions ``Номенклатура_Key`` and ``Склад``, resource ``ВНаличии`` in base units) with
its virtual table ``/Balance(Period=datetime'…', Condition='…', Dimensions='Номенклатура,…')``:
rows ``{"Номенклатура_Key", "Склад", "ВНаличииBalance"}``, a zero balance no row.
Objects are addressed as ``Set(guid'<Ref_Key>')``. Queries take ``$filter`` with v3 literals
(``guid'…'``, ``datetime'…'``; ``eq ne gt ge lt le and or not``, ``substringof``,
``startswith``, ``endswith``; string comparisons ignore case like 1C), ``$select``,
``$orderby``, ``$top``, ``$skip``, ``$expand`` (references), ``$inlinecount=allpages``
(``"odata.count"`` is a string), ``$format=json``; ``allowedOnly=true`` is accepted. Answers are
``{"odata.metadata": "<root>$metadata#<Set>", "value": [...]}`` or one entity with
``#<Set>/@Element``; each ``X_Key`` comes with ``X@navigationLinkUrl``.

Writes: POST to a catalog or ``Document_ЗаказКлиента`` → 201 with the object (Ref_Key,
``DataVersion``, and for an order the next ``Number`` ``УТ-000103``…, ``Date`` now, rows priced
from the register when they lack ``Цена``, ``Сумма`` and ``СуммаДокумента`` computed);
PATCH/MERGE (or PUT, or POST with ``X-HTTP-Method``) → 200 with the object; ``If-Match`` with a
stale ``DataVersion`` → 412; DELETE → 204. Rows in a body replace the section and each needs
``LineNumber`` (400, code 5). Unknown references → 400, code 4. POSTing to
``Document_ЗаказКлиента_Товары`` → 400, code 13.
``POST Document_ЗаказКлиента(guid'…')/Post?PostingModeOperational=false`` → 200, empty body,
``Posted`` true; refused with 500, code -1 for an order marked for deletion, without
counterparty or rows, or whose counterparty is marked for deletion. ``/Unpost`` → 200.
The header ``1C_OData_DataLoadMode: true`` is accepted (no behavioural difference).
Errors: ``{"odata.error": {"code": "<n>", "message": {"lang": "ru", "value": "…"}}}`` —
unknown entity set 404 code 8, unknown key 404 code 9, bad query option 400 code 14, internal
500 code -1 (see :mod:`simulators.onec.errors`).

**HTTP service** ``/{publication}/hs/b2b/v1/`` (JSON; failures ``{"error": "…"}``; the
customer and items by ``Code``; an unknown customer or item → 404, a malformed request → 400)::

    GET  prices?customer=10000&items=1000,1002&quantities=5,2[&units=,BOX][&date=2026-11-22]
         200 {"customer": "10000", "currency": "RUB", "customer_deletion_mark": false,
              "prices": [{"item": "1000", "quantity": 5, "unit": "шт", "price": 1350,
                          "kind": "Индивидуальная", "promo": false, "deletion_mark": false},
                         {"item": "1002", "quantity": 2, "unit": "BOX", "price": 6480, ...}]}
         Prices are per base unit (the item's ЕдиницаИзмерения), or per unit of ``units`` where
         one is given (a unit of Catalog_ЕдиницыИзмерения: the base price times its
         Коэффициент; an unknown unit → 404); ``unit`` says which.
         The best price: the customer's own ("Индивидуальная") beats its price group's (the kind
         named by ГруппаЦен) beats "Базовая"; an "Акция" price valid on the date wins when
         lower (promo true). Without any price: price and kind null. Quantities default to 1
         and are echoed (no quantity breaks). A customer or item marked for deletion is priced
         like any other; its ``DeletionMark`` comes along.
    POST invoices            {"customer": "10000", "amount": 1234.5, "request_id": "r-1"}
         201 {"number": "СЧ-000001", "date": "2026-11-22T10:00:00", "amount": 1234.5,
              "pdf_base64": "…"}
         The same request_id again → the same invoice (201, no new one); with other data → 409.
         A customer marked for deletion → 409.
    POST reconciliation-acts {"customer": "10000", "year": 2026, "quarter": 3, "request_id": "…"}
         201 {"number": "АС-000001", "period": {"from": "2026-07-01", "to": "2026-09-30"},
              "pdf_base64": "…"}     idempotent like invoices; a quarter not yet begun → 422.
         While documents take time to prepare (``/_control/onec/documents``), a new invoice or
         act is answered 202 {"status": "preparing", "request_id": "…"} with ``Retry-After``
         (whole seconds left, at least 1) until that long after its request_id was first seen;
         then the same request gets the document (201). Invalid requests still fail at once.
    POST requests            {"request_id": "…", "customer": "10000",
                              "kind": "delivery_address" | "employee", "details": {...}}
         201 {"number": "ЗП-000001", "status": "registered", "request_id": "…"}
         A customer's request for the ERP to decide on; idempotent like invoices (other data
         → 409). A customer marked for deletion → 409; an unknown kind → 400.
    GET  balance?customer=10000
         200 {"balance": 162350.5, "credit_limit": 2500000, "receivables": 177350.5,
              "overdue": 0, "payments_in_progress": 15000}

Faults, the request record and ``POST /_control/reset`` (restores the seed) come from
:mod:`simulators.faults`; an injected error defaults to the ``odata.error`` envelope. The
infobase's own control routes (document preparation time, registered requests) are in
:mod:`simulators.onec.control`.
"""

from __future__ import annotations

from simulators.onec.app import create_app
from simulators.onec.pricing import Quote, best_price
from simulators.onec.seed import contract_ref, counterparty_ref, item_ref, order_ref
from simulators.onec.service import ONEC_KEY, OneCService
from simulators.onec.store import Store

__all__ = [
    "ONEC_KEY",
    "OneCService",
    "Quote",
    "Store",
    "best_price",
    "contract_ref",
    "counterparty_ref",
    "create_app",
    "item_ref",
    "order_ref",
]
