"""Outbound events of the systems, received over HTTP: Bitrix24's ``ONCRMDEAL*`` events.

Bitrix24 posts an event form-encoded, once, and never retries it. The event is journaled (as a
``bitrix24.deal_changed`` command: read the deal, then update the storefront's order) and only
then acknowledged, so an event that got a 200 is never lost. A forged event (wrong
``auth[application_token]``) gets 401, a malformed one 400 (a deal id is 1 to 18 ASCII digits: a
Bitrix24 id is a bigint), one whose body does not arrive within ``limits.body_timeout`` 408, each
with a log line.

Events are not deduplicated here: Bitrix24 stamps them to the second and sends nothing else that
tells two edits of a deal in the same second from one event posted twice, so merging them could
lose an edit. A repeated event is harmless instead: its deal shows the state the bus already
forwarded, and the storefront step is skipped as such (see ``bus.queues.deliver``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage

from bus.handlers.commands import routed_command
from bus.rpc import discard_body
from bus.services import Services

log = logging.getLogger(__name__)

#: The deal events the bus follows.
DEAL_EVENTS = frozenset({"ONCRMDEALUPDATE", "ONCRMDEALADD"})

#: A Bitrix24 deal id: ASCII digits only (``str.isdigit`` also takes ``²``), bigint-sized.
DEAL_ID = re.compile(r"[0-9]{1,18}", re.ASCII)


async def bitrix24_event(services: Services, request: web.Request) -> web.Response:
    """Journal one Bitrix24 event, then acknowledge it."""
    if services.settings.crm != "bitrix24":
        return _refuse(404, "this deployment's CRM is not Bitrix24", request)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":  # Bitrix24 posts plain forms; the server decodes no body itself
        return _refuse(415, "a Bitrix24 event is a plain (not compressed) form", request)
    seconds = services.settings.limits.body_timeout
    try:
        async with asyncio.timeout(seconds):
            form = await request.post()
    except TimeoutError:
        discard_body(request)
        late = _refuse(408, f"the event's body did not arrive within {seconds:g} s", request)
        late.force_close()
        return late
    except (ValueError, BadHttpMessage, web.RequestPayloadError):  # not a form, undecodable
        discard_body(request)
        refused = _refuse(400, "unreadable event body: a form-encoded event is expected", request)
        refused.force_close()
        return refused
    except ConnectionError:  # the portal went away mid-body: nobody is left to answer
        log.info("bitrix24 event from %s: connection closed mid-body", request.remote)
        return web.Response(status=400)
    expected = services.settings.bitrix24.application_token.get_secret_value()
    token = str(form.get("auth[application_token]", ""))
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return _refuse(401, "wrong or missing auth[application_token]", request)
    event = str(form.get("event", "")).upper()
    deal_id = str(form.get("data[FIELDS][ID]", ""))
    if event not in DEAL_EVENTS:
        log.info("bitrix24 event %r ignored: the bus follows %s", event, sorted(DEAL_EVENTS))
        return web.json_response({"ignored": event})
    if not DEAL_ID.fullmatch(deal_id):
        shown = deal_id[:40] + ("…" if len(deal_id) > 40 else "")
        return _refuse(400, f"data[FIELDS][ID] must be a deal id, not {shown!r}", request)
    command = routed_command(
        services,
        "bitrix24.deal_changed",
        source="bitrix24",
        payload={"deal_id": int(deal_id), "event": event, "ts": str(form.get("ts", ""))},
        idempotency_key=None,  # see the module docstring
    )
    try:
        outcome = await services.committer.accept(command)
    except Exception:  # the journal is unreachable: say so; the portal will not retry
        log.exception("bitrix24 %s of deal %s NOT journaled", event, deal_id)
        return web.json_response({"error": "journal unavailable"}, status=503)
    if isinstance(outcome, Exception):  # a conflict needs a key; events carry none
        return _refuse(409, str(outcome), request)
    return web.json_response({"message_id": outcome.message_id, "status": outcome.status.value})


def _refuse(status: int, reason: str, request: web.Request) -> web.Response:
    log.warning("bitrix24 event from %s refused (%d): %s", request.remote, status, reason)
    return web.json_response({"error": reason}, status=status)
