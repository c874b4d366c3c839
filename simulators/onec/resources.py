"""Resource paths under ``/{publication}/odata/standard.odata/``.

::

    (empty)                                   the service document
    $metadata                                 the EDMX document
    Catalog_Контрагенты                       a collection (``/$count`` for its size)
    Catalog_Контрагенты(guid'…')              one object by Ref_Key
    Document_ЗаказКлиента_Товары(Ref_Key=guid'…', LineNumber=1)   one row (named key)
    Document_ЗаказКлиента(guid'…')/Post       an action (``Post``, ``Unpost``)
    InformationRegister_ЦеныНоменклатуры/SliceLast(Period=datetime'…', Condition='…')
    AccumulationRegister_ТоварыНаСкладах/Balance(Period=…, Condition='…', Dimensions='…')

aiohttp has already percent-decoded the path, so Cyrillic names arrive as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from simulators.odata_literals import is_literal, literal_value
from simulators.onec.errors import OneCError, bad_url, entity_set_not_found, method_not_found
from simulators.onec.literals import Token, accepts, tokenize
from simulators.onec.schema import ENTITY_SETS, Edm, EntityType

ResourceKind = Literal[
    "service", "metadata", "collection", "count", "entity", "action", "slice", "balance"
]
#: The actions a document publishes.
ACTIONS = ("Post", "Unpost")
_HEAD = re.compile(r"[^(/]*")
#: The parameters of an accumulation register's ``Balance`` virtual table.
_BALANCE_PARAMETERS: dict[str, Edm] = {
    "Period": "Edm.DateTime",
    "Condition": "Edm.String",
    "Dimensions": "Edm.String",
}


@dataclass(frozen=True)
class Resource:
    """What a request addresses.

    Parameters:
        kind: the shape of the resource.
        entity: the entity set, except for the service and metadata documents.
        key: the key values of an entity or action target.
        action: ``Post`` or ``Unpost``.
        arguments: the named arguments of a virtual table (``Period``, ``Condition``,
            ``Dimensions``).
    """

    kind: ResourceKind
    entity: EntityType | None = None
    key: dict[str, Any] = field(default_factory=dict)
    action: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)


def parse_resource(tail: str) -> Resource:
    """The resource a path tail (after ``standard.odata/``) addresses.

    Raises:
        OneCError: 404 (code 8) for an unknown entity set, 400 for a malformed key (code 6 or
            7) or an unknown action or virtual table (code 11).
    """
    head, args, rest = _split(tail)
    if args is None and rest is None and head in ("", "$metadata"):
        return Resource("metadata" if head else "service")
    entity = ENTITY_SETS.get(head)
    if entity is None:
        raise entity_set_not_found(head)
    if args is None:
        return _collection_path(entity, rest)
    key = parse_key(entity, args)
    if rest is None:
        return Resource("entity", entity, key)
    if rest in ACTIONS and entity.kind == "document":
        return Resource("action", entity, key, action=rest)
    raise method_not_found(rest)


def _collection_path(entity: EntityType, rest: str | None) -> Resource:
    if rest is None:
        return Resource("collection", entity)
    if rest == "$count":
        return Resource("count", entity)
    name, args, more = _split(rest)
    if name == "SliceLast" and entity.kind == "register" and args is not None and more is None:
        arguments = _named(args, {"Period": "Edm.DateTime", "Condition": "Edm.String"})
        return Resource("slice", entity, arguments=arguments)
    if name == "Balance" and entity.kind == "accumulation" and more is None:
        arguments = _named(args or "", _BALANCE_PARAMETERS)
        return Resource("balance", entity, arguments=arguments)
    raise method_not_found(rest)


def parse_key(entity: EntityType, text: str) -> dict[str, Any]:
    """Key values from ``guid'…'`` or ``Name=literal, …``, typed and complete.

    Raises:
        OneCError: 400, code 6, for a malformed predicate or a literal of the wrong type;
            code 7 when a key property is missing.
    """
    tokens = tokenize(text, bad_url)
    if len(tokens) == 1 and is_literal(tokens[0]) and len(entity.key) == 1:
        pairs = {entity.key[0]: tokens[0]}
    else:
        pairs = _pairs(tokens, text)
    key: dict[str, Any] = {}
    for name in entity.key:
        token = pairs.pop(name, None)
        if token is None:
            raise OneCError(400, "7", f"Не хватает элемента ключа сущности: '{name}'")
        if not accepts(entity.by_name[name].edm, token) or literal_value(token) is None:
            raise bad_url(f"неверное значение ключа '{name}': {token.text}")
        key[name] = literal_value(token)
    if pairs:
        raise bad_url(f"лишние элементы ключа: {', '.join(pairs)}")
    return key


def _named(text: str, parameters: dict[str, Edm]) -> dict[str, Any]:
    """The named arguments of a function call, each checked against its declared type."""
    tokens = tokenize(text, bad_url)
    arguments: dict[str, Any] = {}
    for name, token in (_pairs(tokens, text) if tokens else {}).items():
        edm = parameters.get(name)
        if edm is None:
            raise bad_url(f"неизвестный параметр '{name}'")
        if not accepts(edm, token) or literal_value(token) is None:
            raise bad_url(f"параметр '{name}' должен иметь тип {edm}: {token.text}")
        arguments[name] = literal_value(token)
    return arguments


def _pairs(tokens: list[Token], text: str) -> dict[str, Token]:
    """``Name=literal`` pairs separated by commas."""
    pairs: dict[str, Token] = {}
    pos = 0
    while pos < len(tokens):
        chunk = tokens[pos : pos + 3]
        valid = (
            len(chunk) == 3
            and chunk[0].kind == "name"
            and chunk[1].text == "="
            and is_literal(chunk[2])
        )
        pos += 3
        if pos < len(tokens):
            # A separator needs something after it: "(A=1,)" is malformed.
            valid = valid and tokens[pos].text == "," and pos + 1 < len(tokens)
            pos += 1
        if not valid:
            raise bad_url(f"неверный предикат ключа '({text})'")
        pairs[chunk[0].text] = chunk[2]
    return pairs


def _split(text: str) -> tuple[str, str | None, str | None]:
    """``Name(args)/rest`` into its parts; quotes in ``args`` may hold ``)`` and ``/``."""
    head = _HEAD.match(text)
    name = head.group() if head else ""
    pos = len(name)
    args = None
    if pos < len(text) and text[pos] == "(":
        close = _closing(text, pos)
        args, pos = text[pos + 1 : close], close + 1
    rest = None
    if pos < len(text):
        if text[pos] != "/":
            raise bad_url(f"'{text}'")
        rest = text[pos + 1 :] or None
    return name, args, rest


def _closing(text: str, start: int) -> int:
    quoted = False
    for pos in range(start + 1, len(text)):
        char = text[pos]
        if char == "'":
            quoted = not quoted  # a doubled quote flips twice: still inside
        elif char == ")" and not quoted:
            return pos
    raise bad_url(f"незакрытая скобка в '{text}'")
