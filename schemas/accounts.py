"""``account.create`` / ``account.deactivate``: the CRM provisions a customer's storefront account.

The CRM knows the customer's ERP key, its contacts and the personal settings; the bus fills the
rest from the ERP (name, tax ids, licence, price group), creates the storefront user and mails the
primary contact a set-password link. Every message of one customer is delivered in order.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from schemas.base import CodeText, IdempotencyKey, NameText, Params

ErpKey = CodeText
Text = Annotated[str, StringConstraints(max_length=250)]


class Contact(Params):
    """A person of the customer; the ``primary`` one (or the first) receives the account mail."""

    name: NameText
    email: EmailStr
    phone: Text | None = None
    job_title: Text | None = None
    primary: bool = False


class Manager(Params):
    """The customer's personal manager, shown in the storefront."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    email: EmailStr


class AccountSettings(Params):
    """Personal settings of the storefront account, and where the CRM keeps the customer."""

    greeting: Text | None = None
    menu: Annotated[list[Text], Field(max_length=30)] | None = None
    manager: Manager | None = None
    crm: Text | None = None
    crm_id: Text | None = None
    phone: Text | None = None
    web: Text | None = None
    type_id: Text | None = None


class AccountCreate(Params):
    """Params of ``account.create``."""

    erp_key: ErpKey
    name: Text | None = None
    segment: Text | None = None
    contacts: Annotated[list[Contact], Field(min_length=1, max_length=50)]
    settings: AccountSettings = AccountSettings()
    idempotency_key: IdempotencyKey | None = None


class AccountDeactivate(Params):
    """Params of ``account.deactivate``."""

    erp_key: ErpKey
    idempotency_key: IdempotencyKey | None = None
