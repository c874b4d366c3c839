"""Outbound events of the systems, received over HTTP: Bitrix24's ``ONCRMDEAL*`` events.

Bitrix24 posts an event form-encoded, once, and never retries it. The event is journaled (as a
``bitrix24.deal_changed`` command: read the deal, then update the storefront's order) and only
then acknowledged, so an event that got a 200 is never lost. A forged event (wrong
``auth[application_token]``) gets 401, a malformed one 400, each with a log line; a repeated event
(same event, deal and timestamp) maps to the message already journaled and is acknowledged again.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bus.handlers.commands import routed_command
from bus.services import Services

log = logging.getLogger(__name__)

#: The deal events the bus follows.
DEAL_EVENTS = frozenset({"ONCRMDEALUPDATE", "ONCRMDEALADD"})


async def bitrix24_event(services: Services, request: web.Request) -> web.Response:
    """Journal one Bitrix24 event, then acknowledge it."""
    if services.settings.crm != "bitrix24":
        return _refuse(404, "this deployment's CRM is not Bitrix24", request)
    try:
        form = await request.post()
    except ValueError as exc:  # not a form, or over the size limit
        return _refuse(400, f"unreadable event body: {exc}", request)
    expected = services.settings.bitrix24.application_token.get_secret_value()
    token = str(form.get("auth[application_token]", ""))
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return _refuse(401, "wrong or missing auth[application_token]", request)
    event = str(form.get("event", "")).upper()
    deal_id = str(form.get("data[FIELDS][ID]", ""))
    if event not in DEAL_EVENTS:
        log.info("bitrix24 event %r ignored: the bus follows %s", event, sorted(DEAL_EVENTS))
        return web.json_response({"ignored": event})
    if not deal_id.isdigit():
        return _refuse(400, f"data[FIELDS][ID] must be a deal id, not {deal_id!r}", request)
    timestamp = str(form.get("ts", ""))
    command = routed_command(
        services,
        "bitrix24.deal_changed",
        source="bitrix24",
        payload={"deal_id": int(deal_id), "event": event},
        # Bitrix24 stamps each event; the same stamp again is the same event, posted twice.
        idempotency_key=f"{event}:{deal_id}:{timestamp}" if timestamp else None,
    )
    try:
        outcome = await services.committer.accept(command)
    except Exception:  # the journal is unreachable: say so; the portal will not retry
        log.exception("bitrix24 %s of deal %s NOT journaled", event, deal_id)
        return web.json_response({"error": "journal unavailable"}, status=503)
    if isinstance(outcome, Exception):  # same key, other payload: cannot happen for one event
        return _refuse(409, str(outcome), request)
    if not outcome.created:
        log.info("bitrix24 %s of deal %s repeated: already journaled", event, deal_id)
    return web.json_response({"message_id": outcome.message_id, "status": outcome.status.value})


def _refuse(status: int, reason: str, request: web.Request) -> web.Response:
    log.warning("bitrix24 event from %s refused (%d): %s", request.remote, status, reason)
    return web.json_response({"error": reason}, status=status)
