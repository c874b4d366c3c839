"""A Microsoft Dynamics NAV 2018 / Business Central on-premise simulator (OData v4 pages).

Publishes ``Customer``, ``Item``, ``ItemUnitsOfMeasure`` (page 5404, read-only: each item's units
with ``Qty_per_Unit_of_Measure``, key ``Item_No, Code``), ``SalesOrder`` (with the
``SalesOrderSalesLines`` containment), ``SalesPrices``, ``CustomerContracts``, ``B2BRequests``
(insert-only) and ``CustomerLedgerEntries`` (read-only) under
``/{instance}/ODataV4/Company('{company}')/``, with NAV's Basic auth, etags and mandatory
``If-Match``, error envelope, ``$filter`` subset and server-driven paging, and the SOAP codeunit
services ``B2BPricing`` (prices, with the source of each price and what is blocked) and
``B2BDocuments`` (invoices and reconciliation acts as PDF) (WSDL, document/literal calls, NAV
faults) under ``/{instance}/WS/{company}/``.
See :func:`create_app`.
"""

from __future__ import annotations

from simulators.navision.app import create_app
from simulators.navision.pricing import best_unit_price
from simulators.navision.service import NAV_KEY, NavService
from simulators.navision.store import Store

__all__ = ["NAV_KEY", "NavService", "Store", "best_unit_price", "create_app"]
