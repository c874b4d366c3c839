"""Insert, modify and delete for plain page services (Customer, Item, SalesPrices, ...).

Sales orders add business rules on top of these and live in :mod:`orders`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from simulators.navision.errors import NavError, bad_request, field_validation, record_not_found
from simulators.navision.payload import writable_values
from simulators.navision.schema import EntityType
from simulators.navision.store import Record, Store


def create_record(store: Store, entity: EntityType, body: dict[str, Any], today: date) -> Record:
    """Insert a record from a POST body, as the page's ``OnInsert`` would.

    Raises:
        NavError: on invalid values, or as :func:`insert_record`.
    """
    return insert_record(store, entity, writable_values(entity, body), today)


def insert_record(store: Store, entity: EntityType, values: dict[str, Any], today: date) -> Record:
    """Insert a record of validated ``values``; a blank ``No`` is taken from the number series.

    Raises:
        NavError: on a blank primary key (``Application_FieldValidationException``) or a taken
            key (409 ``Internal_EntityWithSameKeyExists``).
    """
    record = store.new_record(entity, values)
    if entity.number_series and not record.values["No"]:
        record.values["No"] = store.take_no(entity)
    first = entity.by_name[entity.key[0]]
    if record.values[first.name] == first.default:
        raise field_validation(
            f"{first.label} must have a value in {entity.table}. It cannot be zero or empty."
        )
    ensure_new_key(store, entity, entity.key_of(record.values))
    stamp(entity, record.values, today)
    store.tables[entity.name].insert(record)
    return record


def update_record(
    store: Store, entity: EntityType, record: Record, body: dict[str, Any], today: date
) -> None:
    """Apply a PATCH/PUT/MERGE body to ``record`` and give it a new version.

    Raises:
        NavError: on invalid values or an attempt to change a primary-key field.
    """
    changes = writable_values(entity, body)
    ensure_same_key(entity, record, changes)
    stamp(entity, changes, today)
    store.tables[entity.name].update(record, changes, store.bump())


def delete_record(store: Store, entity: EntityType, record: Record) -> None:
    """Delete ``record`` from its table."""
    store.tables[entity.name].delete(entity.key_of(record.values))


def related(store: Store, entity: EntityType, key: tuple[Any, ...]) -> Record:
    """The record a table-relation field names, as the field's ``OnValidate`` finds it.

    Raises:
        NavError: 400 ``Internal_RecordNotFound`` when there is none.
    """
    record = store.tables[entity.name].get(key)
    if record is None:
        raise record_not_found(entity.table, entity.identification(key))
    return record


def ensure_new_key(store: Store, entity: EntityType, key: tuple[Any, ...]) -> None:
    """Raise 409 ``Internal_EntityWithSameKeyExists`` when ``key`` is taken."""
    if store.tables[entity.name].get(key) is not None:
        raise NavError(
            409,
            "Internal_EntityWithSameKeyExists",
            f"The record in table {entity.table} already exists. "
            f"Identification fields and values: {entity.identification(key)}",
        )


def ensure_same_key(entity: EntityType, record: Record, changes: dict[str, Any]) -> None:
    """Reject a write that would rename the record (NAV needs a RENAME for that)."""
    for name in entity.key:
        if name in changes and changes[name] != record.values[name]:
            raise bad_request(f"The key property '{name}' of '{entity.name}' cannot be changed.")


def stamp(entity: EntityType, values: dict[str, Any], today: date) -> None:
    """Set ``Last_Date_Modified`` as NAV's ``OnModify``/``OnInsert`` triggers do."""
    if "Last_Date_Modified" in entity.by_name:
        values["Last_Date_Modified"] = today.isoformat()
