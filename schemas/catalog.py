"""Every JSON-RPC method of the bus with its params and result models: the agreed formats.

The bus's handlers register under these names; the OpenRPC document and the JSON Schema files in
``schemas/json/`` are generated from this table (``python -m schemas.export``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.accounts import AccountCreate, AccountDeactivate
from schemas.balance import BalanceGet
from schemas.base import Params
from schemas.cart import CartImportExcel
from schemas.crm_events import CreatioOrderChanged
from schemas.documents import InvoiceRequest, ReconciliationRequest
from schemas.messages import MessageGet
from schemas.orders import OrderStatusChanged, OrderSubmit
from schemas.prices import PricesGet
from schemas.requests import AddressRequest, EmployeeRequest, OrderMerge, RequestDecided
from schemas.results import (
    Accepted,
    BalanceView,
    Cart,
    MessageView,
    OpenRpcDocument,
    OrderAccepted,
    Prices,
)


class NoParams(Params):
    """A method that takes no params."""


@dataclass(frozen=True)
class MethodSchema:
    """One method's name, one-line summary, params model and result model."""

    name: str
    summary: str
    params: type[BaseModel]
    result: type[BaseModel]


#: The methods of the bus, by name.
METHODS: dict[str, MethodSchema] = {
    method.name: method
    for method in (
        MethodSchema(
            "order.submit",
            "Journal a cart, routed by the customer's segment: licensed customers' orders to the"
            " ERP, then the CRM; others split by contract into pick-up orders for the CRM; the"
            " manager is mailed; answers at once.",
            OrderSubmit,
            OrderAccepted,
        ),
        MethodSchema(
            "order.status_changed",
            "The ERP reports an order's status (shipped, provided, …); the storefront follows,"
            " in order with the order's other messages.",
            OrderStatusChanged,
            Accepted,
        ),
        MethodSchema(
            "account.create",
            "Provision a customer's storefront account from the CRM: ERP data, the user, the"
            " set-password mail; answers at once.",
            AccountCreate,
            Accepted,
        ),
        MethodSchema(
            "account.deactivate",
            "Disable a customer's storefront user, after the customer's earlier account.create.",
            AccountDeactivate,
            Accepted,
        ),
        MethodSchema(
            "invoice.request",
            "An invoice for an amount, issued by the ERP and delivered to the storefront as PDF.",
            InvoiceRequest,
            Accepted,
        ),
        MethodSchema(
            "reconciliation.request",
            "The reconciliation act of a quarter, issued by the ERP and delivered as PDF.",
            ReconciliationRequest,
            Accepted,
        ),
        MethodSchema(
            "message.get",
            "The status, attempts, result and later steps of a message you sent.",
            MessageGet,
            MessageView,
        ),
        MethodSchema(
            "prices.get",
            "A customer's best prices for items and quantities, from the ERP within a time budget;"
            " last known prices flagged stale when it cannot answer.",
            PricesGet,
            Prices,
        ),
        MethodSchema(
            "balance.get",
            "A customer's balance, credit limit, receivables, overdue debt and payments in"
            " progress, from the ERP within a time budget (last known, flagged stale, if not).",
            BalanceGet,
            BalanceView,
        ),
        MethodSchema(
            "cart.import_excel",
            "The customer's Excel order form as cart lines with personal prices, and the rows"
            " that are malformed, unknown or out of stock, each with its row number.",
            CartImportExcel,
            Cart,
        ),
        MethodSchema(
            "address.request",
            "A customer asks for a new delivery address; the ERP registers it and decides later"
            " (request.decided); past its deadline an undecided request is reported stuck.",
            AddressRequest,
            Accepted,
        ),
        MethodSchema(
            "employee.request",
            "A customer asks for an account for its employee; the ERP registers it and decides"
            " later (request.decided); past its deadline an undecided request is reported stuck.",
            EmployeeRequest,
            Accepted,
        ),
        MethodSchema(
            "request.decided",
            "The ERP approved or declined a request (by the message id the bus answered it"
            " with); the storefront hears it after the request.",
            RequestDecided,
            Accepted,
        ),
        MethodSchema(
            "order.merge",
            "The ERP merged a customer's orders into a new one, or refused to; the storefront"
            " removes them and shows the new one, or leaves them as they were.",
            OrderMerge,
            Accepted,
        ),
        MethodSchema(
            "creatio.order_changed",
            "Creatio's business process: an order was saved; the bus reads it and updates the"
            " storefront's order, unless it is the bus's own write coming back.",
            CreatioOrderChanged,
            Accepted,
        ),
        MethodSchema(
            "rpc.discover",
            "The OpenRPC document of the methods you may call.",
            NoParams,
            OpenRpcDocument,
        ),
    )
}
