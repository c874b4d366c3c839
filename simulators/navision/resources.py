"""Resource paths under ``/{instance}/ODataV4/``: parsing, resolution and canonical URLs.

Understood forms::

    Company                         Company('CRONUS')
    Company('CRONUS')/Customer      Customer?company=CRONUS
    Company('CRONUS')/Customer('10000')
    Company('CRONUS')/SalesOrder(Document_Type='Order',No='101001')/SalesOrderSalesLines
    .../SalesOrderSalesLines(Document_Type='Order',Document_No='101001',Line_No=10000)
    .../Customer/$count
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from simulators.navision.errors import NavError, bad_request, record_not_found
from simulators.navision.literals import Token, format_literal, tokenize
from simulators.navision.payload import coerce
from simulators.navision.schema import CONTAINED, ENTITY_SETS, SALES_ORDER, EntityType
from simulators.navision.store import Key, Record, Store
from simulators.odata_literals import is_literal, literal_value

Kind = Literal["service", "companies", "company", "collection", "entity", "count"]
KeyPredicate = list[tuple[str | None, Any]]


@dataclass(frozen=True)
class Segment:
    """One path segment: a name and, when present, its key predicate."""

    name: str
    key: KeyPredicate | None = None


@dataclass(frozen=True)
class Resource:
    """What a request addresses.

    Parameters:
        kind: the sort of resource.
        company: the company name.
        entity: the entity type of a collection or entity.
        record: the addressed entity.
        parent: the sales order that contains a line or a line collection.
    """

    kind: Kind
    company: str
    entity: EntityType | None = None
    record: Record | None = None
    parent: Record | None = None

    @property
    def collection_path(self) -> str:
        """The collection path after ``Company('…')/``: ``SalesOrder(…)/SalesOrderSalesLines``."""
        assert self.entity is not None
        if self.parent is None:
            return self.entity.name
        return _nav_path(self.parent, self.entity)

    def entity_path(self, record: Record) -> str:
        """The canonical path of ``record`` in this collection, as in ``Location``."""
        assert self.entity is not None
        return self.collection_path + key_predicate(self.entity, self.entity.key_of(record.values))


def parse_segments(path: str) -> list[Segment]:
    """Split a resource path into segments, honouring quotes in key values.

    Raises:
        NavError: 400 ``BadRequest`` for a malformed path.
    """
    tokens = tokenize(path)
    segments: list[Segment] = []
    pos = 0
    while pos < len(tokens):
        name = tokens[pos]
        if name.kind != "name":
            raise bad_request(f"The request URI '{path}' is not valid.")
        key, pos = _key_predicate(tokens, pos + 1, path)
        segments.append(Segment(name.text, key))
        if pos < len(tokens):
            if tokens[pos].text != "/":
                raise bad_request(f"The request URI '{path}' is not valid.")
            pos += 1
    return segments


def resolve(store: Store, segments: list[Segment], company: str, known_company: str) -> Resource:
    """Find the resource that ``segments`` address.

    Parameters:
        company: the ``?company=`` parameter, or ``""``.
        known_company: the one company the simulator serves (also the default).

    Raises:
        NavError: 404 for unknown services or records, 400 for a bad path or company.
    """
    rest = list(segments)
    if rest and rest[0].name == "Company":
        head = rest.pop(0)
        if head.key is None:
            return _leaf(Resource("companies", known_company), rest)
        company = str(_single_value(head.key))
        if not rest:
            return Resource("company", _checked_company(company, known_company))
    company = _checked_company(company or known_company, known_company)
    if not rest:
        return Resource("service", company)
    head = rest.pop(0)
    entity = ENTITY_SETS.get(head.name)
    if entity is None:
        raise NavError(404, "BadRequest_NotFound", f"The service '{head.name}' is not published.")
    if head.key is None:
        return _leaf(Resource("collection", company, entity), rest)
    record = find(store, entity, head.key)
    if not rest:
        return Resource("entity", company, entity, record)
    return _contained(store, company, entity, record, rest)


def find(store: Store, entity: EntityType, predicate: KeyPredicate) -> Record:
    """The record a key predicate names.

    Raises:
        NavError: 400 for a predicate that does not fit the key, 404 when no record has it.
    """
    key = bind_key(entity, predicate)
    record = store.tables[entity.name].get(key)
    if record is None:
        raise record_not_found(entity.table, entity.identification(key), status=404)
    return record


def bind_key(entity: EntityType, predicate: KeyPredicate) -> Key:
    """Map ``('10000')`` or ``(Document_Type='Order',No='1')`` onto the key properties."""
    if len(predicate) == 1 and predicate[0][0] is None and len(entity.key) == 1:
        named = {entity.key[0]: predicate[0][1]}
    else:
        named = {name: value for name, value in predicate if name is not None}
    if sorted(named) != sorted(entity.key) or len(predicate) != len(entity.key):
        raise bad_request(
            f"The key in the request URI is not valid for resource 'NAV.{entity.name}'. "
            f"Ensure that the names and number of key values match the declared key."
        )
    return tuple(coerce(entity.by_name[name], named[name]) for name in entity.key)


def key_predicate(entity: EntityType, key: Key) -> str:
    """The canonical key predicate NAV prints in links, e.g. ``('10000')``."""
    if len(key) == 1:
        return f"({format_literal(key[0])})"
    pairs = (f"{n}={format_literal(v)}" for n, v in zip(entity.key, key, strict=True))
    return f"({','.join(pairs)})"


def company_segment(company: str) -> str:
    """``Company('CRONUS%20International%20Ltd.')`` as NAV prints it."""
    return f"Company('{quote(company.replace(chr(39), chr(39) * 2), safe='')}')"


def _leaf(resource: Resource, rest: list[Segment]) -> Resource:
    if not rest:
        return resource
    if [s.name for s in rest] == ["$count"] and resource.kind == "collection":
        return Resource("count", resource.company, resource.entity, parent=resource.parent)
    raise bad_request(f"The segment '{rest[0].name}' is not valid here.")


def _contained(
    store: Store, company: str, entity: EntityType, parent: Record, rest: list[Segment]
) -> Resource:
    head = rest.pop(0)
    child = CONTAINED.get(head.name)
    if child is None or head.name != entity.containment:
        raise NavError(
            404, "BadRequest_NotFound", f"'{head.name}' is not a navigation of '{entity.name}'."
        )
    if head.key is None:
        return _leaf(Resource("collection", company, child, parent=parent), rest)
    line = find(store, child, head.key)
    if line.values["Document_No"] != parent.values["No"] or rest:
        raise record_not_found(child.table, child.identification(bind_key(child, head.key)), 404)
    return Resource("entity", company, child, line, parent)


def _key_predicate(tokens: list[Token], pos: int, path: str) -> tuple[KeyPredicate | None, int]:
    if pos >= len(tokens) or tokens[pos].text != "(":
        return None, pos
    pairs: KeyPredicate = []
    pos += 1
    while pos < len(tokens) and tokens[pos].text != ")":
        name: str | None = None
        if tokens[pos].kind == "name" and pos + 1 < len(tokens) and tokens[pos + 1].text == "=":
            name, pos = tokens[pos].text, pos + 2
        if pos >= len(tokens) or not is_literal(tokens[pos]):
            raise bad_request(f"The key in the request URI '{path}' is not valid.")
        pairs.append((name, literal_value(tokens[pos])))
        pos += 1
        if pos < len(tokens) and tokens[pos].text == ",":
            pos += 1
    if pos >= len(tokens):
        raise bad_request(f"The key in the request URI '{path}' is not valid.")
    return pairs, pos + 1


def _single_value(predicate: KeyPredicate) -> Any:
    if len(predicate) != 1 or predicate[0][0] not in (None, "Name"):
        raise bad_request("The company must be addressed as Company('<name>').")
    return predicate[0][1]


def _checked_company(company: str, known_company: str) -> str:
    if company != known_company:
        raise NavError(400, "Unknown", f"The company '{company}' does not exist.")
    return company


def _nav_path(parent: Record, entity: EntityType) -> str:
    # Only sales orders contain anything, so the parent of a contained entity is one.
    key = key_predicate(SALES_ORDER, SALES_ORDER.key_of(parent.values))
    return f"{SALES_ORDER.name}{key}/{entity.name}"
