"""Writes every reference object shares: create, modify, delete, references, ``If-Match``.

Catalogs use these as they are; customer orders (:mod:`orders`) add their rules on top.
Unlike the real platform, which stores a reference to a missing object as a "broken" link, the
simulator refuses it (400, code 4): an unknown ``Контрагент_Key`` is always an integration bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulators.onec.errors import duplicate_key, invalid_value, version_mismatch
from simulators.onec.payload import writable_values
from simulators.onec.schema import EMPTY_REF, EntityType, Property
from simulators.onec.store import Store

Values = dict[str, Any]


def create_object(store: Store, entity: EntityType, body: Values) -> Values:
    """Insert a catalog object from a POST body; an empty ``Code`` takes the next free one.

    Raises:
        OneCError: 400 for invalid values or references, a taken Ref_Key (code 15).
    """
    values = writable_values(entity, body, creating=True)
    ref = take_ref(store, entity, values)
    check_references(store, entity.properties, values)
    if "Code" in entity.by_name and not values.get("Code"):
        values["Code"] = _next_code(store, entity)
    created = store.new_object(entity, {**values, "Ref_Key": ref})
    store.tables[entity.name].insert(created)
    return created


def update_object(store: Store, entity: EntityType, target: Values, body: Values) -> None:
    """Apply a PATCH/MERGE body to ``target`` and give it a new ``DataVersion``.

    Raises:
        OneCError: 400 for invalid values or references.
    """
    values = writable_values(entity, body, creating=False)
    check_references(store, entity.properties, values)
    store.tables[entity.name].update(target, {**values, "DataVersion": store.bump()})


def delete_object(store: Store, entity: EntityType, target: Values) -> None:
    """Delete ``target`` physically (no reference check, as in 1C's direct deletion)."""
    store.tables[entity.name].delete(target["Ref_Key"])


def take_ref(store: Store, entity: EntityType, values: Values) -> str:
    """The Ref_Key of a new object: the one the body chose, or a fresh one.

    Raises:
        OneCError: 400, code 15, when the chosen Ref_Key is taken.
    """
    ref = values.pop("Ref_Key", EMPTY_REF)
    if ref == EMPTY_REF:
        return store.new_ref(entity)
    if store.tables[entity.name].get(ref) is not None:
        raise duplicate_key(f"Ref_Key = guid'{ref}'")
    return str(ref)


def check_references(store: Store, properties: Iterable[Property], values: Values) -> None:
    """Refuse a filled reference to an object that does not exist.

    Raises:
        OneCError: 400, code 4, naming the property.
    """
    for prop in properties:
        ref = values.get(prop.name, EMPTY_REF)
        if prop.ref and ref != EMPTY_REF and store.tables[prop.ref].get(ref) is None:
            raise invalid_value(prop.name, f"объект {prop.ref} с ключом guid'{ref}' не найден")


def check_if_match(header: str | None, current: str) -> None:
    """Optimistic locking: ``If-Match`` (when sent) must name the current ``DataVersion``.

    ``*``, the bare version, a quoted one and a weak etag (``W/"…"``) are all accepted.

    Raises:
        OneCError: 412 when the object changed since the client read it.
    """
    if header is None or header.strip() == "*":
        return
    versions = {_unquote(part) for part in header.split(",")}
    if current not in versions:
        raise version_mismatch()


def _unquote(tag: str) -> str:
    tag = tag.strip().removeprefix("W/")
    return tag.strip('"').strip("'")


def _next_code(store: Store, entity: EntityType) -> str:
    codes = [o["Code"] for o in store.tables[entity.name] if o["Code"].isdigit()]
    if not codes:
        return "1"
    widest = max(codes, key=lambda code: (int(code), len(code)))
    return str(int(widest) + 1).zfill(len(widest))
