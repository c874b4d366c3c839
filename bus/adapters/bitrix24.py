"""Bitrix24 CRM over REST (an incoming webhook, or OAuth), paced under the portal's limit.

``order.create`` adds a deal and sets its product rows in one ``batch`` call (``$result[deal]``
hands the new id to the rows). The deal carries ``ORIGINATOR_ID = "bus"`` (the external system,
as Bitrix24 intends the field) and ``ORIGIN_ID = "<order id>/<message id>"`` (the record's id in
it): the storefront's order and the bus message that created the deal. Its rows are the ERP's
receipt of the order (:class:`schemas.steps.OrderReceipt`): each line's quantity in the unit the
ERP took it in (``MEASURE_NAME``, with its OKEI ``MEASURE_CODE`` where :data:`MEASURE_CODES` knows
it) at the ERP's unit price, so the deal's ``OPPORTUNITY`` is the ERP's total; the title names the
ERP's order number. The deal belongs to the customer's company (``COMPANY_ID``: the oldest company
whose ``ORIGIN_ID`` is the customer's ERP key, as ``account.report`` finds it, read first; a
customer without one is refused for good) and to that company's first contact (``CONTACT_ID``,
listed in the same ``batch`` and handed over as ``$result[contact][0][ID]``; none if it has
none). ``lookup`` finds the deal by that exact ``ORIGIN_ID``, so it finds this message's deal and
never another message's for the same order (an order id can repeat; a message id cannot); it
sets the rows again, as the batch may have been cut short after the deal was added
(``productrows.set`` replaces them, so this is harmless).

``deal.read`` reads a deal and its rows (one ``batch``) in the bus's order
form, for the storefront: the order id is the part of ``ORIGIN_ID`` before the message id, and
any deal without such an ``ORIGIN_ID`` (a manager's own, another system's) skips the route's next
step.

``account.report`` comments what became of the customer's storefront account (``account.create``:
created, updated; ``account.deactivate``: deactivated, nothing to deactivate) on the customer's
company timeline. The company is ``settings.crm_id`` when the CRM sent it, else the one whose
``ORIGIN_ID`` is the ERP key. A comment is added anew each time, so its text ends with
``(bus message <id>)``: that is how ``lookup`` finds this message's comment after an unknown
outcome, and not another report on the same company.

``failure.report`` comments on the customer's company (``crm_id`` when the report carries it,
else by ``ORIGIN_ID``) that a step of its order or account waits for an operator
(:class:`schemas.notices.FailureReport`: which, which step, why, which message), marked and
looked up as ``account.report``'s comment is.

``account.read`` reads nothing: the Bitrix24 robot that calls ``account.create`` sends the manager
and the storefront settings in the call. (The company's responsible, ``ASSIGNED_BY_ID``, is a
portal user whose email takes ``user.get``, scope ``user`` or ``user_basic``, which the bus does
not call.) A call without a manager provisions a customer without one, which its orders' mail
steps then say.

The portal drains 2 requests a second and answers 503 ``QUERY_LIMIT_EXCEEDED`` past its bucket:
requests are paced by a leaky bucket (``requests_per_second``, ``burst``) that every worker
process keeps together, keyed by the portal's address (:mod:`bus.adapters.pace`), and a 503 waits
and tries again within the attempt; past the attempt's budget (a wait for the pace included) it
becomes a *throttled* error, which delays the message without counting the attempt. A 429 (the
method's operating time budget) is throttled for a minute.

The pace is spent on work: the portal's ``ONCRMDEALADD`` of a deal the bus added itself is not
read (``deal.read`` skips the route's next steps, saying so). The deal is what the bus wrote, and
every later change of it (its rows set, a robot's or a manager's edit) is an ``ONCRMDEALUPDATE``
of its own, which is read. The deals the bus added are remembered for a day where every worker
sees them (:mod:`bus.adapters.own_writes`); a deal not found there is read, as any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from bus.adapters.accounts import CRM_SETTINGS, account_outcome, account_settings
from bus.adapters.base import Delivery, EntityState, Receipt, SecretStore
from bus.adapters.bitrix24_auth import STALE_TOKEN, Bitrix24Auth, OAuthTokens, WebhookAuth
from bus.adapters.bitrix24_sync import OPERATIONS as SYNC_OPERATIONS
from bus.adapters.bitrix24_sync import DealSync
from bus.adapters.failures import REPORT_OPERATION, failure_report
from bus.adapters.http import json_object, malformed, retry_after, upstream_errors
from bus.adapters.orders import (
    crm_lines,
    crm_state,
    erp_number,
    order_comment,
    order_lines,
    order_state,
    placed_online,
    routed_order,
)
from bus.adapters.own_writes import OwnWrites
from bus.adapters.pace import target_pace
from bus.adapters.shared import SharedRedis
from bus.errors import PermanentError, TransientError
from bus.settings import Bitrix24Settings
from schemas.notices import FailureReport

SYSTEM = "bitrix24"
#: Marks the deals the bus created (the external system's name, as Bitrix24 intends the field).
ORIGINATOR = "bus"
#: Deal stages of the default pipeline, as the storefront's order statuses.
STAGE_STATUS = {
    "NEW": "new",
    "PREPARATION": "in_progress",
    "PREPAYMENT_INVOICE": "in_progress",
    "EXECUTING": "in_progress",
    "FINAL_INVOICE": "in_progress",
    "WON": "completed",
    "LOSE": "cancelled",
}
#: OKEI codes (a product row's ``MEASURE_CODE``) of the ERPs' unit codes, by lower-case code; a
#: unit not here goes by its name only (``MEASURE_NAME``) and the portal keeps its default code.
MEASURE_CODES = {
    "pcs": 796,
    "шт": 796,
    "bottle": 868,
    "бут": 868,
    "box": 778,
    "уп": 778,
    "упак": 778,
}
#: Bitrix24's page size of list methods; clients cannot change it.
PAGE_SIZE = 50
#: How long a method blocked by its operating budget (429) is left alone.
OPERATING_BUDGET_PAUSE = 60.0
_THROTTLED = {"QUERY_LIMIT_EXCEEDED"}
_TRANSIENT_CODES = {"INTERNAL_SERVER_ERROR", "ERROR_CORE", "OVERLOAD_LIMIT"}
_SESSION_CODES = {"expired_token", "invalid_token", "NO_AUTH_FOUND", "INVALID_CREDENTIALS"}
#: The event of a deal added: for a deal the bus added, nothing to read.
DEAL_ADDED = "ONCRMDEALADD"


class Bitrix24Adapter:
    """Delivers the bus's CRM operations to a Bitrix24 portal.

    Parameters:
        settings: the webhook URL (``…/rest/<user>/<code>``), the pace, the retry policy.
        client: the process's shared HTTP client.
        shared: the deployment's Redis, where every worker process keeps the portal's pace and
            the deals the bus added; ``None`` (embedded): this process alone. Closed with the
            adapter.
    """

    #: See :class:`bus.adapters.base.Adapter`.
    operations: ClassVar[frozenset[str]] = frozenset(
        {
            "order.create",
            "deal.read",
            "account.read",
            "account.report",
            REPORT_OPERATION,
            *SYNC_OPERATIONS,
        }
    )
    #: The operations answered from the call alone, sending the portal nothing (the robot's call
    #: carries what ``account.read`` would read): they need none of its pace or threads, so
    #: their wake-ups go to the journal's queue (:func:`bus.queues.broker.queue_of`).
    requestless: ClassVar[frozenset[str]] = frozenset({"account.read"})
    #: The operations a person waits on: the comment on a customer's company that says what became
    #: of its storefront account, which the manager who asked for it reads. They go ahead of a
    #: backlog of deals, in the portal's queue (:func:`bus.queues.broker.queue_of`) and in its
    #: pace (:func:`bus.adapters.pace.ahead_of_backlog`). Failure reports do not: a storm of
    #: them is a backlog of its own, which the pace's small budget for these would only slow.
    urgent: ClassVar[frozenset[str]] = frozenset({"account.report"})

    def __init__(
        self,
        settings: Bitrix24Settings,
        client: httpx.AsyncClient,
        secrets: SecretStore | None = None,
        shared: SharedRedis | None = None,
    ) -> None:
        self._client = client
        self._timeout = settings.retry.attempt_timeout
        self._auth: Bitrix24Auth = WebhookAuth(settings.webhook_url.get_secret_value())
        if settings.oauth is not None:
            if secrets is None:
                raise ValueError("Bitrix24 OAuth needs a store for its rotating tokens")
            self._auth = OAuthTokens(settings.oauth, client, secrets, self._timeout)
        # A leaky bucket: `burst` requests at once, then `requests_per_second`, per portal.
        self._shared = shared
        self._rate = settings.requests_per_second
        portal = portal_address(settings)
        self._pace = target_pace(SYSTEM, portal, self._rate, settings.burst, shared)
        self._own_deals = OwnWrites(f"{SYSTEM}-deal:{portal}", shared)
        # A deal following the ERP's status (bus.adapters.bitrix24_sync).
        self._sync = DealSync(self.call, self._batch, settings.stages, STAGE_STATUS)

    def intended_state(self, delivery: Delivery) -> EntityState | None:
        """A new deal shows its rows (the ERP's units and prices) at the first stage: the bus's
        own state; a deal that follows the ERP's status shows its new stage."""
        if delivery.operation in SYNC_OPERATIONS:
            return self._sync.intended_state(delivery)
        if delivery.operation != "order.create":
            return None
        return crm_state(delivery)

    async def deliver(self, delivery: Delivery) -> Receipt:
        """Perform ``delivery.operation`` (see the module docstring)."""
        if delivery.operation == "order.create":
            return await self._create_order(delivery)
        if delivery.operation == "deal.read":
            return await self._read_deal(int(delivery.payload["deal_id"]), delivery)
        if delivery.operation in SYNC_OPERATIONS:
            return await self._sync.deliver(delivery)
        if delivery.operation == "account.report":
            return await self._report(delivery)
        if delivery.operation == REPORT_OPERATION:
            return await self._report_failure(delivery)
        if delivery.operation == "account.read":
            # Nothing to read: the call carries what Bitrix24 has (see the module docstring).
            return Receipt(delivery.payload["erp_key"], details={CRM_SETTINGS: {}})
        raise PermanentError(f"{SYSTEM} has no operation {delivery.operation!r}")

    async def lookup(self, delivery: Delivery) -> Receipt | None:
        """Find this message's deal (making sure it has its rows), or its report's comment.

        Both are found by the message id they carry, never by the order or the customer alone:
        another message's deal or comment is not this one's effect. Reads need no lookup.
        """
        if delivery.operation in SYNC_OPERATIONS:
            return await self._sync.lookup(delivery)
        if delivery.operation == "account.report":
            return await self._find_report(delivery)
        if delivery.operation == REPORT_OPERATION:
            company_id = await self._failure_company(failure_report(delivery, SYSTEM))
            return await self._find_comment(company_id, _report_marker(delivery.message_id))
        if delivery.operation != "order.create":
            return None
        found = await self.call(
            "crm.deal.list",
            {
                # "=" is an exact match whatever the field's default comparison.
                "filter": {"=ORIGINATOR_ID": ORIGINATOR, "=ORIGIN_ID": deal_origin(delivery)},
                "select": ["ID"],
            },
        )
        if not isinstance(found, list):
            raise malformed(f"{SYSTEM} answered a deal list in an unknown shape", idempotent=True)
        if not found:
            return None
        deal_id = _entity_id(
            found[0].get("ID") if isinstance(found[0], dict) else None, "deal", True
        )
        await self.call("crm.deal.productrows.set", {"id": deal_id, "rows": _rows(delivery)})
        await self._own_deals.remember(str(deal_id))
        return _deal_receipt(deal_id)

    async def aclose(self) -> None:
        """A webhook keeps no session; the shared Redis client is closed."""
        if self._shared is not None:
            await self._shared.aclose()

    async def _create_order(self, delivery: Delivery) -> Receipt:
        company_id = await self._company_of(routed_order(delivery).customer)
        contact = {"filter": {"COMPANY_ID": company_id}, "select": ["ID"], "order": {"ID": "ASC"}}
        commands = {
            # The company's first contact, handed to the deal by reference (none: no contact).
            "contact": "crm.contact.list?" + php_query(contact),
            "deal": "crm.deal.add?"
            + php_query({"fields": _deal_fields(delivery, company_id, "$result[contact][0][ID]")}),
            "rows": "crm.deal.productrows.set?"
            + php_query({"id": "$result[deal]", "rows": _rows(delivery)}),
        }
        results = await self._batch(commands, idempotent=False)
        deal_id = _entity_id(results["deal"], "deal", idempotent=False)
        await self._own_deals.remember(str(deal_id))
        return _deal_receipt(deal_id)

    async def _read_deal(self, deal_id: int, delivery: Delivery) -> Receipt:
        if delivery.payload.get("event") == DEAL_ADDED and await self._own_deals.made(str(deal_id)):
            return Receipt(
                str(deal_id),
                skip_next=f"deal {deal_id} was added by the bus: its {DEAL_ADDED} is the bus's own"
                " write (later changes come as ONCRMDEALUPDATE)",
            )
        results = await self._batch(
            {
                "deal": f"crm.deal.get?id={deal_id}",
                "rows": f"crm.deal.productrows.get?id={deal_id}",
            },
            idempotent=True,
        )
        deal, rows = results["deal"], results["rows"] or []
        if not isinstance(deal, dict) or not isinstance(rows, list):
            raise malformed(
                f"{SYSTEM} answered deal {deal_id} in an unknown shape", idempotent=True
            )
        order_id = _origin_order(deal)
        if order_id is None:
            return Receipt(
                str(deal_id), skip_next=f"deal {deal_id} was not created by the bus for an order"
            )
        status = STAGE_STATUS.get(str(deal.get("STAGE_ID")), "in_progress")
        lines = order_lines(
            {
                "item": r["PRODUCT_NAME"],
                "quantity": r["QUANTITY"],
                "unit": r.get("MEASURE_NAME"),
                "price": r["PRICE"],
            }
            for r in rows
        )
        order = {
            "order_id": order_id,
            "status": status,
            "lines": lines,
            "crm_reference": str(deal_id),
            "source": "crm",
        }
        state = order_state(order_id, status, lines)
        details = {"order": order, "crm_stage": deal.get("STAGE_ID")}
        return Receipt(str(deal_id), details=details, state=state)

    async def _report(self, delivery: Delivery) -> Receipt:
        """Comment the account's outcome on the customer's company (not repeatable)."""
        company_id = await self._company_id(delivery)
        fields = {
            "ENTITY_ID": company_id,
            "ENTITY_TYPE": "company",
            "COMMENT": f"{account_outcome(delivery)} {_report_marker(delivery.message_id)}",
        }
        added = await self.call("crm.timeline.comment.add", {"fields": fields})
        return _comment_receipt(_entity_id(added, "comment", idempotent=False))

    async def _find_report(self, delivery: Delivery) -> Receipt | None:
        """The comment an earlier attempt of ``delivery`` added, if any.

        Newest first: a comment added moments ago is on the first page, whatever the company's
        history; the other pages are read only to be sure it is absent.
        """
        company_id = await self._company_id(delivery)
        return await self._find_comment(company_id, _report_marker(delivery.message_id))

    async def _find_comment(self, company_id: int, marker: str) -> Receipt | None:
        """The company's comment that carries ``marker``, if any."""
        start = 0
        while True:
            page = await self._company_comments(company_id, start)
            for comment in page:
                if marker in str(comment.get("COMMENT") or ""):
                    return _comment_receipt(_entity_id(comment.get("ID"), "comment", True))
            if len(page) < PAGE_SIZE:
                return None
            start += PAGE_SIZE

    async def _report_failure(self, delivery: Delivery) -> Receipt:
        """Comment a failure report on the customer's company (not repeatable: marked)."""
        report = failure_report(delivery, SYSTEM)
        fields = {
            "ENTITY_ID": await self._failure_company(report),
            "ENTITY_TYPE": "company",
            "COMMENT": f"{report.text()} {_report_marker(delivery.message_id)}",
        }
        added = await self.call("crm.timeline.comment.add", {"fields": fields})
        return _comment_receipt(_entity_id(added, "comment", idempotent=False))

    async def _failure_company(self, report: FailureReport) -> int:
        """The company a failure report is about: the CRM's id if known, else by the customer."""
        sent = _sent_company_id({"crm_id": report.crm_id})
        return sent if sent is not None else await self._company_of(report.customer)

    async def _company_comments(self, company_id: int, start: int) -> list[dict[str, Any]]:
        """One page of the company's timeline comments, newest first."""
        page = await self.call(
            "crm.timeline.comment.list",
            {
                "filter": {"ENTITY_ID": company_id, "ENTITY_TYPE": "company"},
                "select": ["ID", "COMMENT"],
                "order": {"ID": "DESC"},
                "start": start,
            },
        )
        if not isinstance(page, list) or not all(isinstance(c, dict) for c in page):
            raise malformed(
                f"{SYSTEM} answered company {company_id}'s comments in an unknown shape",
                idempotent=True,
            )
        return page

    async def _company_id(self, delivery: Delivery) -> int:
        """The customer's company: ``settings.crm_id`` if the CRM sent it, else by ``ORIGIN_ID``.

        Not cached: merging duplicate companies, which managers do, changes the id.
        """
        sent = _sent_company_id(account_settings(delivery))
        if sent is not None:
            return sent
        erp_key = delivery.payload["erp_key"]
        found = await self.call(
            "crm.company.list",
            # The oldest first: a duplicate made later is not the customer's record.
            {"filter": {"ORIGIN_ID": erp_key}, "select": ["ID"], "order": {"ID": "ASC"}},
        )
        if not isinstance(found, list):
            raise malformed(
                f"{SYSTEM} answered a company list in an unknown shape", idempotent=True
            )
        if not found:
            raise PermanentError(f"{SYSTEM} has no company for customer {erp_key!r}")
        first = found[0]
        return _entity_id(first.get("ID") if isinstance(first, dict) else None, "company", True)

    async def _company_of(self, customer: str) -> int:
        """The customer's company: the oldest whose ``ORIGIN_ID`` is its ERP key (a duplicate made
        later is not the customer's record). Not cached: managers merge duplicate companies,
        which changes the id.

        Raises:
            PermanentError: the portal has no company of the customer.
        """
        found = await self.call(
            "crm.company.list",
            {"filter": {"ORIGIN_ID": customer}, "select": ["ID"], "order": {"ID": "ASC"}},
        )
        if not isinstance(found, list):
            raise malformed(
                f"{SYSTEM} answered a company list in an unknown shape", idempotent=True
            )
        if not found:
            raise PermanentError(f"{SYSTEM} has no company for customer {customer!r}")
        return _entity_id(_first_id(found), "company", True)

    async def _batch(self, commands: dict[str, str], *, idempotent: bool) -> dict[str, Any]:
        """Run ``commands`` in one ``batch`` that halts at the first error; results by key."""
        answer = await self.call("batch", {"halt": 1, "cmd": commands}, idempotent=idempotent)
        if not isinstance(answer, dict) or not isinstance(answer.get("result") or {}, dict):
            raise malformed(f"{SYSTEM} answered a batch without results", idempotent=idempotent)
        errors = answer.get("result_error") or {}
        if not isinstance(errors, dict) or not all(isinstance(e, dict) for e in errors.values()):
            raise malformed(f"{SYSTEM} answered unreadable batch errors", idempotent=idempotent)
        if errors:
            key, error = next(iter(errors.items()))
            raise _classify(int(error.get("status") or 400), error, f"batch command {key!r}: ")
        results: dict[str, Any] = answer.get("result") or {}
        missing = [key for key in commands if key not in results]
        if missing:
            raise PermanentError(f"{SYSTEM} batch returned no result for {missing}")
        return results

    async def call(
        self, method: str, params: dict[str, Any], *, idempotent: bool | None = None
    ) -> Any:
        """Call one REST method; its ``result``. A 503 rate limit waits and tries again.

        Parameters:
            idempotent: whether repeating the call is harmless; by default, for reads and
                ``productrows.set`` (it replaces the rows).
        """
        if idempotent is None:
            idempotent = method.endswith((".get", ".list")) or method.endswith("productrows.set")
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._timeout
        renewed = False
        while True:
            await self._pace.acquire(within=give_up_at - loop.time())
            url, sent = await self._auth.request(method, params)
            with upstream_errors(SYSTEM, idempotent=idempotent):
                response = await self._client.post(url, json=sent, timeout=self._timeout)
            if _stale_token(response) and not renewed and await self._auth.renew(sent):
                renewed = True  # a refused token means the call was not run: send it again
                continue
            try:
                return _result(response, idempotent)
            except TransientError as throttled:
                wait = throttled.retry_after or 1.0 / self._rate
                if not throttled.throttled or loop.time() + wait > give_up_at:
                    raise
                await asyncio.sleep(wait)  # the bucket drains; this attempt is not lost


def portal_address(settings: Bitrix24Settings) -> str:
    """Where the portal is, without the webhook's code: ``https://<portal>.bitrix24.ru``."""
    if settings.oauth is not None:
        url = httpx.URL(settings.oauth.portal_url)
    else:
        url = httpx.URL(settings.webhook_url.get_secret_value())
    return str(url.copy_with(path="/", query=None, fragment=None, userinfo=b"")).rstrip("/")


def _stale_token(response: httpx.Response) -> bool:
    if response.status_code != 401:
        return False
    try:
        return response.json().get("error") in STALE_TOKEN
    except (ValueError, AttributeError):
        return False


def _result(response: httpx.Response, idempotent: bool) -> Any:
    body = json_object(response, SYSTEM, idempotent=idempotent or response.status_code >= 400)
    if response.is_success and "error" not in body:
        return body.get("result")
    raise _classify(response.status_code, body, wait=retry_after(response))


def _classify(
    status: int, body: dict[str, Any], where: str = "", wait: float | None = None
) -> Exception:
    code = str(body.get("error") or "")
    text = f"{SYSTEM} {where}{code}: {body.get('error_description') or ''}".strip(": ")
    if code in _THROTTLED or status == 503:
        return TransientError(text, http_status=status, retry_after=wait, throttled=True)
    if status == 429 or code == "OPERATION_TIME_LIMIT":
        pause = OPERATING_BUDGET_PAUSE if wait is None else wait
        return TransientError(text, http_status=status, retry_after=pause, throttled=True)
    if code in _TRANSIENT_CODES or code in _SESSION_CODES or status >= 500:
        # An expired or revoked webhook is fixed by an operator; meanwhile the breaker holds.
        return TransientError(text, http_status=status)
    return PermanentError(text, http_status=status)


def _deal_fields(delivery: Delivery, company_id: int, contact_id: str) -> dict[str, Any]:
    """The deal's fields: it belongs to ``company_id`` and ``contact_id`` (a reference to an
    earlier command's result)."""
    order = routed_order(delivery)
    number = erp_number(delivery)
    title = f"Order {order.order_id}" + (f" (ERP {number})" if number else "")
    return {
        "TITLE": title,
        "ORIGINATOR_ID": ORIGINATOR,
        "ORIGIN_ID": deal_origin(delivery),
        "CURRENCY_ID": "RUB",
        # The rows make it so too; set here, the deal shows it from its first moment.
        "OPPORTUNITY": round(sum(line.amount for line in crm_lines(delivery, warn=False)), 2),
        "COMPANY_ID": company_id,
        "CONTACT_ID": contact_id,
        "COMMENTS": order_comment(order, delivery.message_id),
    }


def deal_origin(delivery: Delivery) -> str:
    """The ``ORIGIN_ID`` of the deal ``delivery`` creates: ``<order id>/<message id>``."""
    return f"{routed_order(delivery).order_id}/{delivery.message_id}"


def _origin_order(deal: dict[str, Any]) -> str | None:
    """The storefront order id of a deal the bus created (from its ``ORIGIN_ID``), else ``None``.

    The message id is the part after the last ``/`` (it has none), so an order id may hold one.
    """
    if deal.get("ORIGINATOR_ID") != ORIGINATOR:
        return None
    order_id, _, message_id = str(deal.get("ORIGIN_ID") or "").rpartition("/")
    return order_id if order_id and placed_online(message_id) else None


def _rows(delivery: Delivery) -> list[dict[str, Any]]:
    """The deal's product rows: the ERP's lines, each in its unit at the ERP's unit price."""
    rows = []
    for line in crm_lines(delivery):
        row: dict[str, Any] = {
            "PRODUCT_NAME": line.item,
            "QUANTITY": line.quantity,
            "PRICE": line.price,
        }
        if line.unit:
            row["MEASURE_NAME"] = line.unit
            code = MEASURE_CODES.get(line.unit.casefold())
            if code is not None:
                row["MEASURE_CODE"] = code
        rows.append(row)
    return rows


def _first_id(found: list[Any]) -> Any:
    """The ``ID`` of the first entry of a list the portal answered."""
    return found[0].get("ID") if isinstance(found[0], dict) else None


def _entity_id(value: Any, what: str, idempotent: bool) -> int:
    """An ID the portal answered (a number, or a string of digits in lists); ``what`` names it."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise malformed(f"{SYSTEM} answered a {what} id {value!r}", idempotent=idempotent)


def _deal_receipt(deal_id: int) -> Receipt:
    return Receipt(str(deal_id), details={"crm_deal_id": deal_id})


def _sent_company_id(settings: dict[str, Any]) -> int | None:
    """The company id the CRM sent in ``settings.crm_id``, if it sent one."""
    crm_id = settings.get("crm_id")
    if not crm_id:
        return None
    if not str(crm_id).isdigit():
        raise PermanentError(f"{SYSTEM} company id {crm_id!r} (settings.crm_id) is not a number")
    return int(crm_id)


def _report_marker(message_id: str) -> str:
    """What ends the report's comment: the message, so ``lookup`` can tell it from others."""
    return f"(bus message {message_id})"


def _comment_receipt(comment_id: int) -> Receipt:
    return Receipt(str(comment_id), details={"crm_comment_id": comment_id})


def php_query(params: dict[str, Any]) -> str:
    """Encode nested params as PHP's ``http_build_query`` does (``rows[0][PRICE]=1``).

    Bitrix24 parses the commands of a ``batch`` that way; ``$result[…]`` references are left
    readable, as the portal substitutes them before parsing.
    """
    return "&".join(
        f"{quote(key, safe='[]')}={quote(value, safe='$[]')}" for key, value in _flatten(params)
    )


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        yield prefix, _scalar(value)
        return
    for key, item in items:
        yield from _flatten(item, f"{prefix}[{key}]" if prefix else str(key))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    return "" if value is None else str(value)
