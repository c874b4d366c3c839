"""The customer directory: the facts order routing needs, kept when a customer is provisioned.

Provisioning reads the customer from the ERP (licence, contracts by product type) and the CRM
names the personal manager; both are kept here (``customer.remember``, a step of
``account.create``), so routing an order by segment needs neither system when the order arrives.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bus.journal.keyed import KeyedDocuments
from bus.journal.tables import customers


class CustomerDirectory(KeyedDocuments):
    """Customer profiles by ERP key, in the journal's ``customers`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, customers, key="erp_key", value="profile")
