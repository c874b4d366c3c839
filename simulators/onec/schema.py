"""The objects published in the standard OData composition: entity types and typed properties.

One description drives ``$metadata``, ``$filter`` typing, body validation, defaults and the JSON
shape, so the simulator cannot drift from what it advertises. Types follow the platform's
mapping: a string is ``Edm.String``, a date ``Edm.DateTime`` (sent without offset), a fractional
number ``Edm.Double``, a reference ``Edm.Guid`` named ``<Attr>_Key`` with a navigation property
``<Attr>``, ``LineNumber`` is ``Edm.Int64`` (so JSON carries it as a string), an enumeration
value is its name as ``Edm.String``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Edm = Literal["Edm.Guid", "Edm.String", "Edm.Boolean", "Edm.DateTime", "Edm.Double", "Edm.Int64"]
#: catalog/document: objects with Ref_Key; rows: a tabular section read as a set;
#: register: records of a periodic information register; accumulation: the record sets of an
#: accumulation register, one per recorder; virtual: rows a virtual table computes (``Balance``).
Kind = Literal["catalog", "document", "rows", "register", "accumulation", "virtual"]

#: The empty reference, as 1C sends an unfilled ``_Key``.
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
#: The empty date, as 1C sends an unfilled ``Edm.DateTime``.
EMPTY_DATE = "0001-01-01T00:00:00"

_DEFAULTS: dict[str, Any] = {
    "Edm.Guid": EMPTY_REF,
    "Edm.String": "",
    "Edm.Boolean": False,
    "Edm.DateTime": EMPTY_DATE,
    "Edm.Double": 0,
    "Edm.Int64": 0,
}

COUNTERPARTIES = "Catalog_Контрагенты"
CONTRACTS = "Catalog_ДоговорыКонтрагентов"
ITEMS = "Catalog_Номенклатура"
UNITS = "Catalog_ЕдиницыИзмерения"
ORDERS = "Document_ЗаказКлиента"
ORDER_ROWS = "Document_ЗаказКлиента_Товары"
PRICES = "InformationRegister_ЦеныНоменклатуры"
STOCK = "AccumulationRegister_ТоварыНаСкладах"
#: The section of an accumulation register's record set, inline in the record set's JSON.
RECORD_SET = "RecordSet"
#: The kinds of movement of an accumulation register of balances.
RECORD_TYPES = ("Receipt", "Expense")
#: The tabular section of a customer order, inline in the order's JSON.
GOODS = "Товары"
#: The values the enumeration ``СтатусыЗаказовКлиентов`` publishes, the default first.
ORDER_STATUSES = ("КСогласованию", "КОбеспечению", "КОтгрузке", "Закрыт")
#: The values of the enumeration ``ВидыДоговоровКонтрагентов``, the default first.
CONTRACT_KINDS = ("СПокупателем", "СПоставщиком", "СКомитентом", "СКомиссионером", "Прочее")
#: The values of the configuration's own ``ВидПродукции`` of a contract; blank when unset.
PRODUCT_TYPES = ("", "water", "alcohol", "accessories")


@dataclass(frozen=True, slots=True)
class Property:
    """One published attribute.

    Parameters:
        name: the OData property name (the attribute's name, ``_Key`` for a reference).
        edm: its Edm type.
        read_only: a system or computed value; whatever a client sends is ignored.
        ref: for a reference, the entity set it points to.
        choices: the values of an enumeration.
    """

    name: str
    edm: Edm = "Edm.String"
    read_only: bool = False
    ref: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def default(self) -> Any:
        """The value of an attribute nobody filled."""
        return self.choices[0] if self.choices else _DEFAULTS[self.edm]

    @property
    def navigation(self) -> str | None:
        """The navigation property of a reference (``Контрагент`` for ``Контрагент_Key``)."""
        return self.name.removesuffix("_Key") if self.ref else None


@dataclass(frozen=True)
class Section:
    """A tabular section: inline rows of its owner, also published as ``<Owner>_<Name>``.

    Parameters:
        name: the section name (``Товары``).
        properties: the row attributes, ``LineNumber`` first.
    """

    name: str
    properties: tuple[Property, ...]
    by_name: dict[str, Property] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.properties})


@dataclass(frozen=True)
class EntityType:
    """One published object; entity set and entity type share the name, as in 1C.

    Parameters:
        name: ``Catalog_Контрагенты``, ``Document_ЗаказКлиента``…
        kind: how the store keeps it and which operations it takes.
        key: the key property names, in key order.
        properties: every scalar property, in the order 1C sends them.
        section: the inline tabular section, if any.
        indexed: properties the store indexes for ``eq`` look-ups.
    """

    name: str
    kind: Kind
    key: tuple[str, ...]
    properties: tuple[Property, ...]
    section: Section | None = None
    indexed: tuple[str, ...] = ()
    by_name: dict[str, Property] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.properties})

    @property
    def selectable(self) -> frozenset[str]:
        """The names ``$select`` accepts: the properties and the tabular section."""
        names = set(self.by_name)
        if self.section is not None:
            names.add(self.section.name)
        return frozenset(names)

    @property
    def navigations(self) -> dict[str, Property]:
        """Reference properties by navigation name (what ``$expand`` accepts)."""
        return {p.navigation: p for p in self.properties if p.navigation}

    def defaults(self) -> dict[str, Any]:
        """A fresh object with every property at its blank value (and no rows)."""
        values = {p.name: p.default for p in self.properties}
        if self.section is not None:
            values[self.section.name] = []
        return values


def _ref(name: str, target: str, read_only: bool = False) -> Property:
    return Property(name, "Edm.Guid", read_only=read_only, ref=target)


def _system(name: str, edm: Edm = "Edm.String") -> Property:
    return Property(name, edm, read_only=True)


_OBJECT_HEAD = (
    _system("Ref_Key", "Edm.Guid"),
    _system("DataVersion"),
    Property("DeletionMark", "Edm.Boolean"),
)

COUNTERPARTY = EntityType(
    name=COUNTERPARTIES,
    kind="catalog",
    key=("Ref_Key",),
    properties=(
        *_OBJECT_HEAD,
        _ref("Parent_Key", COUNTERPARTIES),
        _system("IsFolder", "Edm.Boolean"),
        Property("Code"),
        Property("Description"),
        Property("ИНН"),
        Property("КПП"),
        Property("НаименованиеПолное"),
        Property("ЛицензияНаАлкоголь"),
        Property("АдресЛицензии"),
        Property("ГруппаЦен"),
        # Added by the configuration: the warehouse that ships the counterparty's orders.
        Property("ОсновнойСклад"),
        _system("Predefined", "Edm.Boolean"),
        _system("PredefinedDataName"),
    ),
    indexed=("Code",),
)

CONTRACT = EntityType(
    name=CONTRACTS,
    kind="catalog",
    key=("Ref_Key",),
    properties=(
        *_OBJECT_HEAD,
        Property("Code"),
        Property("Description"),
        # A subordinate catalog: every contract belongs to one counterparty.
        _ref("Owner_Key", COUNTERPARTIES),
        Property("ВидДоговора", choices=CONTRACT_KINDS),
        # Added by the configuration: what the contract sells, which decides the routing.
        Property("ВидПродукции", choices=PRODUCT_TYPES),
        Property("Склад"),
        _system("Predefined", "Edm.Boolean"),
        _system("PredefinedDataName"),
    ),
    indexed=("Code", "Owner_Key"),
)

ITEM = EntityType(
    name=ITEMS,
    kind="catalog",
    key=("Ref_Key",),
    properties=(
        *_OBJECT_HEAD,
        Property("Code"),
        Property("Description"),
        Property("Артикул"),
        Property("ЕдиницаИзмерения"),
        Property("ВидНоменклатуры"),
        Property("КратностьУпаковки", "Edm.Double"),
        _system("Predefined", "Edm.Boolean"),
        _system("PredefinedDataName"),
    ),
    indexed=("Code",),
)

UNIT = EntityType(
    name=UNITS,
    kind="catalog",
    key=("Ref_Key",),
    properties=(
        *_OBJECT_HEAD,
        # The unit's code as the item catalog of the storefront and the price lists show it.
        Property("Code"),
        Property("Description"),
        # A subordinate catalog: every unit (a box, a pack) belongs to one item.
        _ref("Owner_Key", ITEMS),
        # How many of the item's base units (Catalog_Номенклатура.ЕдиницаИзмерения) one holds.
        Property("Коэффициент", "Edm.Double"),
        _system("Predefined", "Edm.Boolean"),
        _system("PredefinedDataName"),
    ),
    indexed=("Code", "Owner_Key"),
)

_ROW_PROPERTIES = (
    Property("LineNumber", "Edm.Int64"),
    _ref("Номенклатура_Key", ITEMS),
    # The unit Количество and Цена are in; empty: the item's base unit.
    _ref("ЕдиницаИзмерения_Key", UNITS),
    # Base units per unit of the row; the configuration takes the unit's when it is blank.
    Property("Коэффициент", "Edm.Double"),
    Property("Количество", "Edm.Double"),
    # The price of one unit of the row (a box costs Коэффициент bottles).
    Property("Цена", "Edm.Double"),
    # Always Количество × Цена: the configuration recalculates it, so a sent value is ignored.
    Property("Сумма", "Edm.Double", read_only=True),
)

ORDER = EntityType(
    name=ORDERS,
    kind="document",
    key=("Ref_Key",),
    properties=(
        *_OBJECT_HEAD,
        Property("Number"),
        Property("Date", "Edm.DateTime"),
        _system("Posted", "Edm.Boolean"),
        _ref("Контрагент_Key", COUNTERPARTIES),
        Property("НомерПоДаннымКлиента"),
        Property("ДатаОтгрузки", "Edm.DateTime"),
        Property("АдресДоставки"),
        Property("Комментарий"),
        Property("Статус", choices=ORDER_STATUSES),
        _system("СуммаДокумента", "Edm.Double"),
    ),
    section=Section(GOODS, _ROW_PROPERTIES),
    indexed=("НомерПоДаннымКлиента", "Контрагент_Key", "Number"),
)

ORDER_ROW = EntityType(
    name=ORDER_ROWS,
    kind="rows",
    key=("Ref_Key", "LineNumber"),
    properties=(_ref("Ref_Key", ORDERS), *_ROW_PROPERTIES),
)

PRICE = EntityType(
    name=PRICES,
    kind="register",
    key=("Period", "Номенклатура_Key", "ВидЦены", "Контрагент_Key"),
    properties=(
        Property("Period", "Edm.DateTime"),
        _ref("Номенклатура_Key", ITEMS),
        Property("ВидЦены"),
        # Filled only for the "Индивидуальная" kind: a price agreed with one counterparty.
        _ref("Контрагент_Key", COUNTERPARTIES),
        Property("Цена", "Edm.Double"),
        Property("Валюта"),
        # The last moment an "Акция" price applies; the empty date means "open-ended".
        Property("ДействуетДо", "Edm.DateTime"),
    ),
)


@dataclass(frozen=True)
class Register:
    """An accumulation register of balances: record sets by recorder, and its ``Balance``.

    Parameters:
        entity: the published record sets (key ``Recorder``, ``Recorder_Type``), each with its
            movements inline in ``RecordSet``.
        dimensions: what balances are kept per (a reference's name ends in ``_Key``).
        resources: the quantities summed, each published in ``Balance`` as ``<name>Balance``.
    """

    entity: EntityType
    dimensions: tuple[Property, ...]
    resources: tuple[Property, ...]

    @property
    def name(self) -> str:
        """The entity-set name, ``AccumulationRegister_…``."""
        return self.entity.name

    @property
    def balance_name(self) -> str:
        """The complex type of the ``Balance`` rows (``…_Balance``)."""
        return f"{self.name}_Balance"

    def dimension_named(self, name: str) -> Property | None:
        """A dimension by the name ``Dimensions`` gives it: ``Номенклатура`` or ``Склад``."""
        return next((d for d in self.dimensions if (d.navigation or d.name) == name), None)

    def balance_type(self, dimensions: tuple[Property, ...] | None = None) -> EntityType:
        """The ``Balance`` row type over ``dimensions`` (every one by default).

        A complex type: its references are plain ``Edm.Guid`` values without navigation.
        """
        chosen = self.dimensions if dimensions is None else dimensions
        return EntityType(
            name=self.balance_name,
            kind="virtual",
            key=(),
            properties=(
                *(Property(d.name, d.edm) for d in chosen),
                *(Property(f"{r.name}Balance", r.edm) for r in self.resources),
            ),
        )


_STOCK_DIMENSIONS = (
    _ref("Номенклатура_Key", ITEMS),
    # The warehouse by name, as counterparties' ОсновнойСклад and contracts' Склад name it.
    Property("Склад"),
)
#: On hand, in the item's base units (Catalog_Номенклатура.ЕдиницаИзмерения).
_STOCK_RESOURCES = (Property("ВНаличии", "Edm.Double"),)

STOCK_REGISTER = Register(
    entity=EntityType(
        name=STOCK,
        kind="accumulation",
        key=("Recorder", "Recorder_Type"),
        properties=(
            # A composite-type reference: the recorder's Ref_Key and its type's name.
            Property("Recorder"),
            Property("Recorder_Type"),
        ),
        section=Section(
            RECORD_SET,
            (
                Property("LineNumber", "Edm.Int64"),
                Property("Period", "Edm.DateTime"),
                Property("Active", "Edm.Boolean"),
                Property("RecordType", choices=RECORD_TYPES),
                *_STOCK_DIMENSIONS,
                *_STOCK_RESOURCES,
            ),
        ),
    ),
    dimensions=_STOCK_DIMENSIONS,
    resources=_STOCK_RESOURCES,
)

#: The published accumulation registers by entity-set name.
REGISTERS: dict[str, Register] = {STOCK: STOCK_REGISTER}

#: The published objects by entity-set name, in the order ``$metadata`` lists them.
ENTITY_SETS: dict[str, EntityType] = {
    e.name: e
    for e in (COUNTERPARTY, CONTRACT, ITEM, UNIT, ORDER, ORDER_ROW, PRICE, STOCK_REGISTER.entity)
}
