"""The entity sets the simulator publishes, their columns and value conversion.

Column names follow the reference's §2.2 (unverified against a real ``$metadata``). The account's
manager is Creatio's own ``Account.Owner`` (a ``Contact``). The storefront settings are what a
Creatio integrator adds for the B2B store, named as Creatio names what a configuration adds (the
``Usr`` prefix of the ``SchemaNamePrefix`` system setting): the account's greeting is a text column
``UsrStorefrontGreeting`` of ``Account``, its menu items a detail, the object
``UsrStorefrontMenuItem`` (``UsrName``, ``UsrPosition``, lookup ``UsrAccount`` to the account, in
OData ``UsrAccountId``), one row per item.

Values are stored as plain Python: ``str`` for Guid/String/DateTimeOffset (ISO ``...Z``, which
compares correctly as text), :class:`~decimal.Decimal` for Decimal, ``int`` for Int32/Int64,
``bool``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from simulators.creatio.errors import bad_request

Kind = Literal["guid", "string", "datetime", "decimal", "int32", "int64", "bool"]
#: Creatio's value of an unset lookup.
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
#: The namespace of the OData entity classes (and so of the ``$metadata`` entity types).
NAMESPACE = "Terrasoft.Configuration.OData"
# IEEE754Compatible=true turns these into JSON strings (OData 4 JSON format, §3.2).
_WIDE_NUMBERS: frozenset[Kind] = frozenset({"decimal", "int64"})


@dataclass(frozen=True)
class EntitySet:
    """One published entity set.

    Parameters:
        name: the set (and type) name, e.g. ``Account``.
        columns: column name to kind, in output order.
        lookups: lookup column (``AccountId``) to the entity set it points to.
    """

    name: str
    columns: dict[str, Kind]
    lookups: dict[str, str]

    @property
    def type_name(self) -> str:
        """The qualified type name used in messages."""
        return f"{NAMESPACE}.{self.name}"

    def default(self, column: str) -> Any:
        """The value a column gets when a create leaves it out."""
        return _DEFAULTS[self.columns[column]]


_DEFAULTS: dict[Kind, Any] = {
    "guid": EMPTY_GUID,
    "string": "",
    "datetime": None,
    "decimal": Decimal(0),
    "int32": 0,
    "int64": 0,
    "bool": False,
}
_AUDIT: dict[str, Kind] = {"CreatedOn": "datetime", "ModifiedOn": "datetime"}


def _entity(name: str, columns: dict[str, Kind], lookups: dict[str, str]) -> EntitySet:
    return EntitySet(name, {"Id": "guid", **columns, **_AUDIT}, lookups)


def entity_sets() -> dict[str, EntitySet]:
    """The published entity sets by name (built on demand: no state at import)."""
    sets = [
        _entity(
            "Account",
            {
                "Name": "string",
                "Code": "string",
                "AlternativeName": "string",
                "Phone": "string",
                "Web": "string",
                "OwnerId": "guid",
                "TypeId": "guid",
                "IndustryId": "guid",
                "PrimaryContactId": "guid",
                "Notes": "string",
                "UsrStorefrontGreeting": "string",
            },
            {"OwnerId": "Contact", "TypeId": "AccountType", "PrimaryContactId": "Contact"},
        ),
        _entity(
            "Contact",
            {
                "Name": "string",
                "Surname": "string",
                "GivenName": "string",
                "Email": "string",
                "MobilePhone": "string",
                "JobTitle": "string",
                "AccountId": "guid",
            },
            {"AccountId": "Account"},
        ),
        _entity(
            "Order",
            {
                "Number": "string",
                "Code": "string",
                "Date": "datetime",
                "AccountId": "guid",
                "ContactId": "guid",
                "StatusId": "guid",
                "Amount": "decimal",
                "CurrencyId": "guid",
                "OwnerId": "guid",
                "PaymentStatusId": "guid",
                "Comment": "string",
            },
            {
                "AccountId": "Account",
                "ContactId": "Contact",
                "StatusId": "OrderStatus",
                "OwnerId": "Contact",
                "CurrencyId": "Currency",
            },
        ),
        _entity(
            "OrderProduct",
            {
                "OrderId": "guid",
                "ProductId": "guid",
                "Name": "string",
                "Quantity": "decimal",
                "Price": "decimal",
                "Amount": "decimal",
                "UnitId": "guid",
                "DiscountPercent": "decimal",
                "DiscountAmount": "decimal",
                "TotalAmount": "decimal",
            },
            {"OrderId": "Order", "UnitId": "Unit"},
        ),
        # Units of measure: a base lookup (Name, Description) with the short name a row shows.
        _entity("Unit", {"Name": "string", "ShortName": "string", "Description": "string"}, {}),
        _entity(
            "UsrStorefrontMenuItem",
            {"UsrName": "string", "UsrPosition": "int32", "UsrAccountId": "guid"},
            {"UsrAccountId": "Account"},
        ),
        _entity("OrderStatus", {"Name": "string", "Code": "string"}, {}),
        _entity("AccountType", {"Name": "string"}, {}),
        _entity("Currency", {"Name": "string", "Code": "string"}, {}),
    ]
    return {entity.name: entity for entity in sets}


def now_text() -> str:
    """The current time as Creatio writes a DateTimeOffset."""
    return format_datetime(datetime.now(UTC))


def format_datetime(moment: datetime) -> str:
    """``2024-05-01T10:00:00Z`` (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> str | None:
    """Normalise an ISO date or date-time to :func:`format_datetime`; ``None`` if invalid."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment)


def parse_guid(text: str) -> str | None:
    """The canonical lower-case form of a GUID, or ``None`` if ``text`` is not one."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def coerce(entity: EntitySet, column: str, value: Any) -> Any:
    """Convert a JSON body value for ``column`` to its stored form.

    Raises:
        CreatioError: 400 when the column is unknown or the value has the wrong type.
    """
    kind = entity.columns.get(column)
    if kind is None:
        raise bad_request(
            f"The property '{column}' does not exist on type '{entity.type_name}'. Make sure "
            "to only use property names that are defined by the type."
        )
    converted = _convert(kind, value)
    if converted is None and not (value is None and kind == "datetime"):
        raise bad_request(f"Cannot convert the literal '{value}' to the expected type '{kind}'.")
    return converted


def _convert(kind: Kind, value: Any) -> Any:
    if kind == "string":
        return value if isinstance(value, str) else None
    if kind == "guid":
        return parse_guid(value) if isinstance(value, str) else None
    if kind == "datetime":
        return parse_datetime(value) if isinstance(value, str) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if kind == "decimal":
        return number
    return int(number) if number == number.to_integral_value() else None


def to_json(kind: Kind, value: Any, ieee754: bool) -> Any:
    """Render a stored value for a response body."""
    if kind in _WIDE_NUMBERS and value is not None:
        return str(value) if ieee754 else (float(value) if kind == "decimal" else int(value))
    return value
