"""Edit-and-replay: an operator corrects a message's payload and the correction is delivered in
the original's place (``bus messages edit``).

The payload is shown to the operator redacted (a secret it holds reads ``***``); what the
operator leaves as shown keeps its stored value, so a hidden secret survives an edit untouched.
The edited payload is checked against the schema of the message's payload before anything is
journaled: the method's params (:data:`schemas.catalog.METHODS`) for a message journaled as its
caller sent it, :class:`schemas.steps.RoutedOrder` for an order's steps, the notice models for
the bus's own notices. A field the schema does not know is refused too (the payload keeps no
field the schema would drop), and so is a change of the fields that make the message's identity
and its ordering key (an order's ``order_id`` and ``customer``: cancel it and send another
instead). A refusal names every field and changes nothing.

The journal's part is :mod:`bus.journal.edits`: the original becomes ``edited``, the edit takes
its place in its key, and the operator's action keeps who, why and the payload's unified diff
(both sides redacted). A message of the storefront's is told (``message.status``, ``action``
``edit``, ``edited_as`` the new message) in the same transaction. The edit and the notice are
woken as every operator action's messages are (:class:`bus.operations.Waker`).
"""

from __future__ import annotations

import difflib
import json
import string
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus import redaction
from bus.db import reading, writing
from bus.errors import InvalidParams
from bus.journal import edits
from bus.journal.accept import Accepted, accept_batch
from bus.journal.notices import NOTICE_METHOD, REPORT_METHOD, is_notice, notice_of, status_notice
from bus.journal.tables import Status, operator_actions
from bus.journal.wakes import Wake
from bus.operations import Waker, waking
from bus.routing import ROUTES
from bus.rpc import parse_params
from bus.settings import Settings
from schemas.catalog import METHODS
from schemas.notices import FailureReport, StatusNotice
from schemas.steps import RoutedOrder

#: The payload's schema of the methods whose messages are not journaled as their params were
#: sent (the others: the method's params model).
_PAYLOADS: dict[str, type[BaseModel]] = {
    "order.submit": RoutedOrder,
    NOTICE_METHOD: StatusNotice,
    REPORT_METHOD: FailureReport,
}
#: Fields no edit changes, whatever the method: an order's identity.
_FIXED = ("order_id",)
#: And per method: what its route was decided by.
_FIXED_BY_METHOD = {"order.submit": ("order_id", "customer")}


@dataclass(frozen=True)
class EditOutcome:
    """What ``bus messages edit`` did."""

    original: str
    edited: str
    #: the edit's status (``accepted``: it runs next in its key)
    status: str
    #: the unified diff of the payload, redacted
    diff: str
    #: the later steps of the route that carry the edited payload
    carried: tuple[str, ...]


async def shown_payload(engine: AsyncEngine, message_id: str) -> dict[str, Any]:
    """The payload of an editable message as the operator edits it (redacted).

    Raises:
        MessageNotFound, InvalidTransition: see :func:`bus.journal.edits.original`.
        InvalidParams: the message's payload has no schema to check an edit against.
    """
    async with reading(engine) as conn:
        row = await edits.original(conn, message_id, lock=False)
    payload_model(row)
    shown: dict[str, Any] = redaction.active().json(row["payload"])
    return shown


async def edit(
    settings: Settings,
    engine: AsyncEngine,
    message_id: str,
    edited: Any,
    *,
    actor: str,
    reason: str,
    waker: Waker | None = None,
) -> EditOutcome:
    """Journal ``edited`` (the payload as the operator left it) as the edit of ``message_id``;
    the edit and the storefront's notice are woken after the commit (:func:`bus.operations.waking`).

    Raises:
        MessageNotFound, InvalidTransition: see :func:`bus.journal.edits.original`.
        InvalidParams: the edited payload is not one (each field named), or changes nothing.
    """
    async with waking(settings, waker) as wakes:
        async with writing(engine) as conn:
            row = await edits.original(conn, message_id)
            payload = checked(row, edited)
            diff = payload_diff(row, payload)
            done = await edits.edit(conn, row, payload, actor=actor, reason=reason, diff=diff)
            woken = [done.wake]
            if settings.storefront.notify != "none":
                woken += await _tell_storefront(conn, row, done.edited, reason)
            await wakes.journal(conn, woken)
        await wakes.wake(engine, woken)
    return EditOutcome(done.original, done.edited, Status.ACCEPTED.value, diff, done.carried)


def payload_model(row: RowMapping) -> type[BaseModel]:
    """The schema of ``row``'s payload, checked against the payload as journaled.

    Raises:
        InvalidParams: none is known, or the journaled payload is not one of it (the bus shaped
            it from the params: a request's, a merge's): such a message is cancelled and sent
            again instead.
    """
    method = row["method"]
    route = ROUTES.get(method)
    model = _PAYLOADS.get(method)
    if model is None and method in METHODS and (route is None or route.journaled is None):
        model = METHODS[method].params
    if model is None or _problems(model, row["payload"]):
        raise InvalidParams(
            {
                "fields": [
                    {
                        "field": "payload",
                        "type": "not_editable",
                        "message": f"the payload of a {method} message is shaped by the bus,"
                        " not as its caller sent it: cancel it and send it again instead",
                    }
                ]
            }
        )
    return model


def checked(row: RowMapping, edited: Any) -> dict[str, Any]:
    """The payload to journal: ``edited`` with what it left redacted restored, valid against
    the payload's schema, knowing no other field, keeping the fixed fields, and changed.

    Raises:
        InvalidParams: naming every field that is wrong.
    """
    if not isinstance(edited, dict):
        raise _refused("payload", "object_expected", "the payload must be a JSON object")
    model = payload_model(row)
    original = row["payload"]
    payload: dict[str, Any] = _restored(edited, original, redaction.active().json(original))
    problems = _problems(model, payload)
    problems += [
        {
            "field": name,
            "type": "fixed_field",
            "message": f"{name} makes the message's identity and key: it is not edited (cancel"
            " the message and send another instead)",
        }
        for name in _fixed(row["method"])
        if payload.get(name) != original.get(name)
    ]
    if problems:
        raise InvalidParams({"fields": problems})
    if payload == original:
        raise _refused("payload", "unchanged", "the edit changes nothing")
    return payload


def payload_diff(row: RowMapping, payload: dict[str, Any]) -> str:
    """The unified diff of the payload, both sides redacted."""
    shown = redaction.active()

    def lines(value: Any) -> list[str]:
        text = json.dumps(shown.json(value), indent=2, sort_keys=True, ensure_ascii=False)
        return text.splitlines(keepends=True)

    return "".join(
        difflib.unified_diff(
            lines(row["payload"]),
            lines(payload),
            fromfile=f"{row['id']} (original)",
            tofile="edited",
        )
    )


def _problems(model: type[BaseModel], payload: dict[str, Any]) -> list[dict[str, Any]]:
    """What is wrong with ``payload`` as a ``model``: its validation errors, and the fields it
    has that the model would not keep."""
    try:
        parsed = parse_params(model, payload)
    except InvalidParams as invalid:
        fields: list[dict[str, Any]] = invalid.data["fields"]
        return fields
    kept = parsed.model_dump(mode="json")
    return [
        {
            "field": ".".join(path),
            "type": "extra_forbidden",
            "message": "Extra inputs are not permitted",
        }
        for path in _dropped(payload, kept, ())
    ]


def _dropped(given: Any, kept: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The paths in ``given`` that ``kept`` (the model's dump of it) does not have."""
    if isinstance(given, dict) and isinstance(kept, dict):
        found: list[tuple[str, ...]] = []
        for key, value in given.items():
            here = (*path, str(key))
            found += _dropped(value, kept[key], here) if key in kept else [here]
        return found
    if isinstance(given, list) and isinstance(kept, list):
        pairs = enumerate(zip(given, kept, strict=False))
        return [
            lost for n, (item, dumped) in pairs for lost in _dropped(item, dumped, (*path, str(n)))
        ]
    return []


def _restored(edited: Any, original: Any, shown: Any) -> Any:
    """``edited`` with every part the operator left as it was shown (redacted) put back as
    stored: a secret the editor showed as ``***`` keeps its value."""
    if edited == shown:
        return original
    if isinstance(edited, dict) and isinstance(original, dict) and isinstance(shown, dict):
        return {
            key: _restored(value, original[key], shown[key])
            if key in original and key in shown
            else value
            for key, value in edited.items()
        }
    if isinstance(edited, list) and isinstance(original, list) and isinstance(shown, list):
        return [
            _restored(value, original[index], shown[index])
            if index < len(original) and index < len(shown)
            else value
            for index, value in enumerate(edited)
        ]
    return edited


def _fixed(method: str) -> tuple[str, ...]:
    """The fields an edit of a ``method`` message keeps: an order's identity, what its route was
    decided by, and the fields its ordering key is made of."""
    route = ROUTES.get(method)
    template = route.ordering_key if route is not None else None
    keyed = (
        tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)
        if isinstance(template, str)
        else ()
    )
    return tuple(dict.fromkeys((*_FIXED, *_FIXED_BY_METHOD.get(method, ()), *keyed)))


async def _tell_storefront(
    conn: AsyncConnection, row: RowMapping, edited_as: str, reason: str
) -> list[Wake]:
    """The storefront's notice that its message was edited, and which message took its place."""
    if row["source"] != "storefront" or is_notice(row["method"]):
        return []
    actions = await conn.scalar(
        select(func.count())
        .select_from(operator_actions)
        .where(operator_actions.c.message_id == row["id"])
    )
    notice = notice_of(dict(row), Status.EDITED, action="edit", reason=reason, edited_as=edited_as)
    [outcome] = await accept_batch(conn, [status_notice(notice, f"edit:{actions}")])
    return list(outcome.runnable) if isinstance(outcome, Accepted) else []


def _refused(field: str, kind: str, message: str) -> InvalidParams:
    return InvalidParams({"fields": [{"field": field, "type": kind, "message": message}]})
