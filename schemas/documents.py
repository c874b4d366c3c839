"""``invoice.request`` / ``reconciliation.request``: documents the customer asks for.

The ERP issues the document; the bus delivers the PDF back to the storefront
(``document.deliver``) as soon as the ERP has it; a document waits for no other message.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schemas.base import CodeText, IdempotencyKey, Params

Customer = CodeText


class InvoiceRequest(Params):
    """Params of ``invoice.request``: an invoice for payment of ``amount``."""

    customer: Customer
    amount: Annotated[float, Field(gt=0, le=1_000_000_000)]
    idempotency_key: IdempotencyKey | None = None


class ReconciliationRequest(Params):
    """Params of ``reconciliation.request``: the reconciliation act of a calendar quarter."""

    customer: Customer
    year: Annotated[int, Field(ge=2000, le=2100)]
    quarter: Annotated[int, Field(ge=1, le=4)]
    idempotency_key: IdempotencyKey | None = None
