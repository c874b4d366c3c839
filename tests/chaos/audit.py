"""Counting what the drill did: in the journal (SQL) and in each simulator, through its own API.

The journal is read first, then the simulators: an effect always lands before its message is
finished, so a message the journal shows delivered has its effect visible by the time the
simulators are read (one still running may land in between; it is reported as non-terminal).

What is checked (DESIGN.md §4 and §7):

- **one order per order id**: the bus knows an order by its storefront order id, whatever key
  it comes with (or none): every call of one order id is answered with one message, a version
  with other content than the journaled one is refused with ``-32010`` naming ``order_id`` and
  that message (and journals and sends nothing), and NAV and Bitrix24 hold at most one order of
  each order id;
- **exactly once**: every message of an acknowledged call (the message the caller got back and the
  later steps of its route) has its effect exactly once: a NAV sales order with the message id as
  ``External_Document_No``; a Bitrix24 deal whose comment names the message (``Bus message <id>``),
  carrying the NAV number of its own order; a Bitrix24 company comment ending ``(bus message
  <id>)``; a storefront call with the message id answered without error and not as a repeat. Mail
  is counted too, but SMTP cannot be asked whether a mail arrived, so a second mail after a crash
  mid-send is reported and tolerated (at least once);
- **at most once**: a call never acknowledged may have been journaled (the answer was lost): its
  messages have at most one effect each; an effect no journaled message explains is an orphan;
- **nothing left behind**: no message is ``accepted``, ``in_flight``, ``retry_wait``,
  ``unknown_outcome``, ``held`` or ``blocked`` once the bus has drained (``skipped`` is finished:
  a step with nothing to do, which says why; one that does not, or a ``delivered`` one whose
  result says it was skipped, is a finding). None is ``failed`` either:
  every call of the drill is valid and every fault is transient (a target down for seconds, a 5xx,
  a crash), so a permanent refusal means the bus did something wrong (a deactivate before its
  create, a repeated create) and exhausted retries mean it did not ride out an outage it should;
- **order per key**: no message of an ordering key starts before the one ahead of it finished; a
  message acknowledged before the next was sent is ahead of it; the storefront, NAV and Bitrix24
  received each key's effects in acceptance order; each order and account ends in the state of its
  last message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from tests.chaos.deployment import NAV_AUTH, NAV_ODATA, Deployment
from tests.chaos.load import CUSTOMERS, Call, order_identity

TERMINAL = ("delivered", "skipped", "failed", "cancelled")
#: Done without an effect (the step before had nothing to hand on, or there was nothing to do),
#: saying why in its result: finished as a delivery is, with nothing to count in the simulators.
DONE = ("delivered", "skipped")
#: How many offending messages each finding lists.
SAMPLES = 8
_DEAL_MARKER = re.compile(r"Bus message ([0-9A-Z]{26})")
_COMMENT_MARKER = re.compile(r"\(bus message ([0-9A-Z]{26})\)")
_ERP_NUMBER = re.compile(r"\(ERP ([^)]+)\)")
_MAIL_ID = re.compile(r"<([0-9A-Z]{26})@bus>")


@dataclass
class Message:
    """One journal row, as the audit needs it."""

    id: str
    method: str
    source: str
    target: str
    operation: str
    idempotency_key: str
    ordering_key: str | None
    ordering_seq: int | None
    status: str
    attempts: int
    attempts_total: int
    last_error: str | None
    result: dict[str, Any] | None
    parent_id: str | None
    accepted_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    order_id: str | None
    erp_key: str | None
    #: an order's lines as (item, quantity), sorted
    lines: list[tuple[str, float]] | None = None
    first_attempt_at: dt.datetime | None = None

    def describe(self, now: dt.datetime | None = None) -> str:
        """One line for a sample: what it is, where it is, and why."""
        idle = ""
        if now is not None:
            idle = f", unchanged for {(now - self.updated_at).total_seconds():.0f}s"
        error = f"; last_error: {_short(self.last_error)}" if self.last_error else ""
        where = self.order_id or self.erp_key or ""
        return (
            f"{self.id} {self.method} {self.target}:{self.operation} {where}"
            f" [{self.status}, {self.attempts_total} attempt(s){idle}]{error}"
        )


@dataclass
class Journal:
    """The journal after the drill."""

    messages: dict[str, Message]
    circuits: list[dict[str, Any]]
    read_at: dt.datetime

    def __post_init__(self) -> None:
        #: the messages callers were answered with, by (caller, what the bus knows them by)
        self.by_identity = {
            (m.source, _identity(m)): m for m in self.messages.values() if m.parent_id is None
        }
        self.children: dict[str, list[Message]] = defaultdict(list)
        self.keyed: dict[str, list[Message]] = defaultdict(list)
        for message in self.messages.values():
            if message.parent_id is not None:
                self.children[message.parent_id].append(message)
            if message.ordering_key is not None:
                self.keyed[message.ordering_key].append(message)
        for group in (*self.children.values(), *self.keyed.values()):
            group.sort(key=lambda m: (m.ordering_seq or 0, m.id))

    def chain(self, top: Message) -> list[Message]:
        """The message and the later steps of its route."""
        return [top, *self.children.get(top.id, [])]

    def ahead(self, message: Message) -> Message | None:
        """The message before ``message`` in its ordering key."""
        group = self.keyed.get(message.ordering_key or "", [])
        index = group.index(message) if message in group else 0
        return group[index - 1] if index > 0 else None


def _identity(message: Message) -> str:
    """What the bus knows a message by: an order by its order id, anything else by its key."""
    if message.method == "order.submit" and message.order_id is not None:
        return order_identity(message.order_id)
    return message.idempotency_key


async def _read_journal(url: str) -> Journal:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT id, method, source, target, operation, idempotency_key, ordering_key,"
            " ordering_seq, status, attempts, attempts_total, last_error, result::text AS result,"
            " parent_id, accepted_at, updated_at, finished_at, next_attempt_at,"
            " payload->>'order_id' AS order_id, payload->>'erp_key' AS erp_key,"
            " (payload->'lines')::text AS lines FROM messages"
        )
        firsts = await conn.fetch(
            "SELECT message_id, min(started_at) AS first FROM attempts GROUP BY message_id"
        )
        circuits = [dict(row) for row in await conn.fetch("SELECT * FROM circuits")]
        now = await conn.fetchval("SELECT now()")
    finally:
        await conn.close()
    first = {row["message_id"]: row["first"] for row in firsts}
    messages = {}
    for row in rows:
        values = dict(row)
        values["result"] = json.loads(values["result"]) if values["result"] else None
        lines = json.loads(values["lines"]) if values["lines"] else None
        values["lines"] = _line_set(lines, "item", "quantity")
        messages[row["id"]] = Message(**values, first_attempt_at=first.get(row["id"]))
    return Journal(messages, circuits, now)


def read_journal(url: str) -> Journal:
    """Read every message, the first attempt of each, and the breakers."""
    return asyncio.run(_read_journal(url))


async def _count_open(url: str) -> Counter[str]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM messages WHERE status <> ALL($1::text[])"
            " GROUP BY status",
            list(TERMINAL),
        )
        changed = await conn.fetchval("SELECT max(updated_at) FROM messages")
    finally:
        await conn.close()
    counts = Counter({row["status"]: row["n"] for row in rows})
    counts["_changed"] = int(changed.timestamp() * 1000) if changed else 0
    return counts


def open_messages(url: str) -> Counter[str]:
    """Non-terminal messages by status (and ``_changed``: the latest update, ms)."""
    return asyncio.run(_count_open(url))


class JournalWatch:
    """Samples the journal every second while the drill runs: how many messages were in each
    status at the worst moment, and when each breaker was open.

    Parameters:
        url: the journal (``postgresql://``).
        clock: seconds since the drill began.
    """

    def __init__(self, url: str, clock: Callable[[], float]) -> None:
        self.url = url
        self.clock = clock
        #: status -> (most messages at once, when)
        self.peaks: dict[str, tuple[int, float]] = {}
        #: target -> [(opened at, closed at or None)]
        self.open_breakers: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
        self.unreachable = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-watch", daemon=True)

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(15)

    def summary(self) -> list[str]:
        """The peaks and the breakers' open spells, for the report."""
        order = ("accepted", "in_flight", "retry_wait", "unknown_outcome", "held", "blocked")
        peaks = ", ".join(
            f"{status} {self.peaks[status][0]} (at {self.peaks[status][1]:.0f}s)"
            for status in order
            if status in self.peaks
        )
        lines = [f"journal while the drill ran: most at once: {peaks or 'none'}"]
        for target, spells in sorted(self.open_breakers.items()):
            if not spells:
                continue
            shown = ", ".join(
                f"{opened:.0f}s-{'' if closed is None else f'{closed:.0f}s'}"
                for opened, closed in spells
            )
            lines.append(f"  breaker {target} open: {shown}")
        if self.unreachable:
            lines.append(f"  journal unreachable for {self.unreachable} sample(s) (restarts)")
        return lines

    def _run(self) -> None:
        asyncio.run(self._watch())

    async def _watch(self) -> None:
        conn: asyncpg.Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = await asyncpg.connect(self.url, timeout=2)
                await self._sample(conn)
            except Exception:  # noqa: BLE001 (PostgreSQL restarting: sample again later)
                self.unreachable += 1
                if conn is not None:
                    conn.terminate()
                conn = None
            await asyncio.to_thread(self._stop.wait, 1.0)
        if conn is not None:
            await conn.close()

    async def _sample(self, conn: asyncpg.Connection) -> None:
        now = self.clock()
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM messages WHERE status <> ALL($1::text[])"
            " GROUP BY status",
            list(TERMINAL),
        )
        for row in rows:
            if row["n"] > self.peaks.get(row["status"], (0, 0.0))[0]:
                self.peaks[row["status"]] = (row["n"], now)
        for row in await conn.fetch("SELECT target, state FROM circuits"):
            spells = self.open_breakers[row["target"]]
            is_open = row["state"] != "closed"
            if is_open and (not spells or spells[-1][1] is not None):
                spells.append((now, None))
            elif not is_open and spells and spells[-1][1] is None:
                spells[-1] = (spells[-1][0], now)


@dataclass
class Effects:
    """What the simulators hold, each read through its own API."""

    nav_orders: list[dict[str, Any]]
    deals: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    storefront_calls: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    orders: dict[str, dict[str, Any]]
    mails: list[dict[str, Any]]

    def __post_init__(self) -> None:
        self.nav_by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.nav_by_no: dict[str, dict[str, Any]] = {}
        for order in self.nav_orders:
            self.nav_by_message[str(order.get("External_Document_No") or "")].append(order)
            self.nav_by_no[str(order["No"])] = order
        self.deals_by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.deals_by_id: dict[str, dict[str, Any]] = {}
        for deal in self.deals:
            found = _DEAL_MARKER.search(str(deal.get("COMMENTS") or ""))
            deal["_message"] = found.group(1) if found else None
            self.deals_by_message[deal["_message"] or ""].append(deal)
            self.deals_by_id[str(deal["ID"])] = deal
        self.comments_by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for comment in self.comments:
            found = _COMMENT_MARKER.search(str(comment.get("COMMENT") or ""))
            self.comments_by_message[found.group(1) if found else ""].append(comment)
        self.calls_by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for call in self.storefront_calls:
            self.calls_by_message[call["message_id"]].append(call)
        self.mails_by_message: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for mail in self.mails:
            found = _MAIL_ID.search(str(mail.get("message_id") or ""))
            self.mails_by_message[found.group(1) if found else ""].append(mail)

    def count(self, message: Message) -> int | None:
        """How many times ``message``'s effect is in its target; ``None``: it has none to count
        (a read, the bus's own directory, or a step done without one by design: a mail with
        nobody to go to, a deactivation of a customer without a user)."""
        target, operation = message.target, message.operation
        result = message.result or {}
        if message.status == "skipped" or result.get("user_outcome") == "nothing_to_deactivate":
            return None  # a delivered result that says skipped is a finding of its own
        if target == "navision" and operation == "sales_order.create":
            return len(self.nav_by_message.get(message.id, []))
        if target == "bitrix24" and operation == "order.create":
            return len(self.deals_by_message.get(message.id, []))
        if target == "bitrix24" and operation == "account.report":
            return len(self.comments_by_message.get(message.id, []))
        if target == "storefront":
            # user.create is an upsert: an active user is updated instead (bus.adapters.storefront)
            methods = {operation, "user.update"} if operation == "user.create" else {operation}
            return len(
                [
                    call
                    for call in self.calls_by_message.get(message.id, [])
                    if call["method"] in methods and not call["repeat"] and not call["error"]
                ]
            )
        if target == "mail":
            return len(self.mails_by_message.get(message.id, []))
        return None


def read_effects(drill: Deployment) -> Effects:
    """Read NAV's sales orders, Bitrix24's deals and company comments, the storefront's calls,
    users and orders, and the mails."""
    with httpx.Client(timeout=30) as http:
        nav_orders = _nav_orders(http, drill.nav)
        deals = _b24_list(
            http,
            f"{drill.webhook}/crm.deal.list",
            {"select": ["ID", "TITLE", "COMMENTS", "ORIGIN_ID", "ORIGINATOR_ID"]},
        )
        _deal_rows(http, drill.webhook, deals)
        companies = _b24_list(
            http,
            f"{drill.webhook}/crm.company.list",
            {"filter": {"ORIGIN_ID": CUSTOMERS}, "select": ["ID", "ORIGIN_ID"]},
        )
        comments = []
        for company in companies:
            for comment in _b24_list(
                http,
                f"{drill.webhook}/crm.timeline.comment.list",
                {
                    "filter": {"ENTITY_TYPE": "company", "ENTITY_ID": company["ID"]},
                    "select": ["ID", "COMMENT", "ENTITY_ID"],
                },
            ):
                comments.append({**comment, "customer": company["ORIGIN_ID"]})
        shop = f"{drill.stack.urls['storefront']}/_control/storefront"
        calls = http.get(f"{shop}/calls").json()["calls"]
        users = {u["customer"]: u for u in http.get(f"{shop}/users").json()["users"]}
        orders = {o["order_id"]: o for o in http.get(f"{shop}/orders").json()["orders"]}
        mails = http.get(f"{drill.stack.urls['mail']}/_control/mail/messages").json()["messages"]
    return Effects(nav_orders, deals, comments, calls, users, orders, mails)


def _nav_orders(http: httpx.Client, nav: str) -> list[dict[str, Any]]:
    url: str | None = f"{nav}{NAV_ODATA}/SalesOrder"
    params: dict[str, str] | None = {
        "$select": "No,External_Document_No,Your_Reference,Sell_to_Customer_No",
        "$expand": "SalesOrderSalesLines",
    }
    found: list[dict[str, Any]] = []
    while url:
        page = http.get(url, params=params, auth=NAV_AUTH)
        page.raise_for_status()
        body = page.json()
        found += body["value"]
        url, params = body.get("@odata.nextLink"), None
    return found


def _deal_rows(http: httpx.Client, webhook: str, deals: list[dict[str, Any]]) -> None:
    """Each deal's product rows (as ``_rows``), read 50 deals per ``batch``."""
    for first in range(0, len(deals), 50):
        chunk = deals[first : first + 50]
        commands = {str(d["ID"]): f"crm.deal.productrows.get?id={d['ID']}" for d in chunk}
        answer = http.post(f"{webhook}/batch", json={"halt": 0, "cmd": commands})
        answer.raise_for_status()
        results = answer.json()["result"]["result"]
        for deal in chunk:
            rows = results.get(str(deal["ID"])) or []
            deal["_rows"] = _line_set(rows, "PRODUCT_NAME", "QUANTITY")


def _line_set(lines: Any, item: str, quantity: str) -> list[tuple[str, float]] | None:
    """Order lines as sorted (item, quantity) pairs, whichever system's field names."""
    if not isinstance(lines, list):
        return None
    return sorted((str(line[item]), float(line[quantity])) for line in lines)


def _b24_list(http: httpx.Client, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    start: int | None = 0
    while start is not None:
        page = http.post(url, json={**params, "order": {"ID": "ASC"}, "start": start})
        page.raise_for_status()
        body = page.json()
        found += body["result"]
        start = body.get("next")
    return found


@dataclass
class Finding:
    """One invariant the drill checks: how many broke it, and a sample of them."""

    name: str
    count: int = 0
    samples: list[str] = field(default_factory=list)
    tolerated: bool = False

    def add(self, sample: str) -> None:
        """Count one more offender; keep the first few as samples."""
        self.count += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(sample)


@dataclass
class Audit:
    """Every count of the drill and every finding."""

    lines: list[str] = field(default_factory=list)
    findings: dict[str, Finding] = field(default_factory=dict)

    def finding(self, name: str, tolerated: bool = False) -> Finding:
        """The finding called ``name`` (created at zero, so the report shows it passed)."""
        if name not in self.findings:
            self.findings[name] = Finding(name, tolerated=tolerated)
        return self.findings[name]

    @property
    def violations(self) -> list[Finding]:
        """The findings that fail the drill."""
        return [f for f in self.findings.values() if f.count and not f.tolerated]

    def say(self, line: str = "") -> None:
        """Add a line to the report."""
        self.lines.append(line)


def audit(calls: list[Call], journal: Journal, effects: Effects) -> Audit:
    """Check every invariant; the counts and findings, ready to print."""
    report = Audit()
    keys = _keys(calls, report)
    _callers(calls, keys, journal, report)
    _refusals(keys, journal, report)
    _statuses(journal, report)
    _exactly_once(keys, journal, effects, report)
    _orphans(journal, effects, report)
    _one_order_per_order_id(keys, effects, report)
    _order_per_key(calls, journal, effects, report)
    return report


@dataclass
class Key:
    """Every call a caller made for one message: with one idempotency key, or for one order id
    (however many keys, or none, its calls carried)."""

    caller: str
    identity: str
    method: str
    calls: list[Call]

    @property
    def acknowledged(self) -> bool:
        """Whether any call with the key was answered with a message id."""
        return any(call.acknowledged for call in self.calls)

    @property
    def message_ids(self) -> set[str]:
        """The message ids the callers were given."""
        return {call.message_id for call in self.calls if call.message_id}


def _keys(calls: list[Call], report: Audit) -> dict[tuple[str, str], Key]:
    keys: dict[tuple[str, str], Key] = {}
    for call in calls:
        group = (call.caller, call.identity)
        keys.setdefault(group, Key(call.caller, call.identity, call.method, []))
        keys[group].calls.append(call)
    several = report.finding("one order id or idempotency key answered with different message ids")
    for key in keys.values():
        if len(key.message_ids) > 1:
            several.add(f"{key.caller} {key.identity}: {sorted(key.message_ids)}")
    return keys


def _refusals(keys: dict[tuple[str, str], Key], journal: Journal, report: Audit) -> None:
    """Only an order's other version may be refused: with -32010 naming ``order_id`` and the
    order's message, and nothing of it journaled; an acknowledged call of an order carries the
    content the order was journaled with."""
    refused = report.finding("calls refused as the caller's fault (none is but other versions)")
    wrong = report.finding("order calls acknowledged with other content than their order's")
    versions = Counter[str]()
    for key in keys.values():
        top = journal.by_identity.get((key.caller, key.identity))
        for call in key.calls:
            sent = _line_set(call.params.get("lines"), "item", "quantity")
            same = top is not None and sent == top.lines
            if call.acknowledged and key.method == "order.submit" and not same:
                journaled = f"{top.id} ({top.lines})" if top is not None else "nothing journaled"
                wrong.add(
                    f"{call.label} -> {call.message_id}: sent {call.params['lines']}, {journaled}"
                )
            if call.refused is None:
                continue
            data = call.refused.get("data") or {}
            expected = (
                key.method == "order.submit"
                and top is not None
                and not same
                and call.refused.get("code") == -32010
                and data.get("field") == "order_id"
                and data.get("order_id") == call.entity
                and data.get("message_id") == top.id
            )
            if expected:
                versions[call.params["comment"].rsplit(" ", 1)[-1]] += 1
            else:
                refused.add(f"{call.caller} {call.method} {call.label}: {call.refused}")
    journaled = Counter(
        (m.source, _identity(m)) for m in journal.messages.values() if m.parent_id is None
    )
    twice = report.finding("order ids (or keys) journaled as more than one message")
    for (source, identity), count in sorted(journaled.items()):
        if count > 1:
            twice.add(f"{source} {identity}: {count} messages")
    shown = ", ".join(f"{version} ×{n}" for version, n in sorted(versions.items()))
    report.say(
        f"  order.submit calls refused as another version of a journaled order (-32010 naming"
        f" order_id and its message): {sum(versions.values())} ({shown or 'none'})"
    )


def _callers(
    calls: list[Call], keys: dict[tuple[str, str], Key], journal: Journal, report: Audit
) -> None:
    report.say("callers (every call retried as it was sent, its idempotency key included):")
    for method in ("order.submit", "order.status_changed", "account.create", "account.deactivate"):
        mine = [call for call in calls if call.method == method]
        mine_keys = [key for key in keys.values() if key.method == method]
        acked = [key for key in mine_keys if key.acknowledged]
        unacked = [key for key in mine_keys if not key.acknowledged]
        journaled = [k for k in unacked if (k.caller, k.identity) in journal.by_identity]
        report.say(
            f"  {method:22} {len(mine):5} calls ({sum(c.tries for c in mine)} tries,"
            f" {sum(1 for c in mine if c.tries > 1)} retried,"
            f" {sum(1 for c in mine if c.refused)} refused,"
            f" {sum(1 for c in mine if not c.acknowledged and not c.refused)} never answered)"
            f" = {len(mine_keys)} messages: {len(acked)} acknowledged,"
            f" {len(unacked)} never acknowledged ({len(journaled)} of them journaled)"
        )
    lost = report.finding("acknowledged calls whose message is not in the journal")
    for key in keys.values():
        if key.acknowledged and (key.caller, key.identity) not in journal.by_identity:
            lost.add(f"{key.caller} {key.identity} -> {sorted(key.message_ids)}")
        top = journal.by_identity.get((key.caller, key.identity))
        if top is not None and key.message_ids and key.message_ids != {top.id}:
            lost.add(
                f"{key.caller} {key.identity}: told {sorted(key.message_ids)}, journal {top.id}"
            )
    errors = Counter(
        error.split(":")[0] + (":" + error.split(":")[1] if error.startswith("JSON") else "")
        for call in calls
        for error in call.errors
    )
    if errors:
        shown = ", ".join(f"{what} ×{n}" for what, n in errors.most_common(6))
        report.say(f"  what callers retried on: {shown}")


def _statuses(journal: Journal, report: Audit) -> None:
    counts = Counter(m.status for m in journal.messages.values())
    shown = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    report.say(f"journal: {len(journal.messages)} messages: {shown}")
    by_target = Counter(
        (m.target, m.operation, m.status)
        for m in journal.messages.values()
        if m.status != "delivered"
    )
    for (target, operation, status), n in sorted(by_target.items()):
        report.say(f"  not delivered: {target}:{operation} {status} {n}")
    stuck = report.finding("messages left non-terminal after the drain")
    failed = report.finding("messages failed (every call is valid and every fault transient)")
    unexplained = report.finding("skipped messages that do not say why")
    mislabelled = report.finding("delivered messages whose result says they were skipped")
    for message in journal.messages.values():
        skipped = (message.result or {}).get("skipped")
        if message.status == "skipped" and not skipped:
            unexplained.add(message.describe(journal.read_at))
        if message.status == "delivered" and skipped:
            mislabelled.add(message.describe(journal.read_at))
    for message in sorted(journal.messages.values(), key=lambda m: (m.status, m.accepted_at)):
        if message.status in TERMINAL and message.status != "failed":
            continue
        line = message.describe(journal.read_at)
        ahead = journal.ahead(message)
        if message.status == "blocked" and ahead is not None:
            line += f"; ahead of it: {ahead.id} [{ahead.status}]"
        (failed if message.status == "failed" else stuck).add(line)
    for circuit in journal.circuits:
        report.say(
            f"  breaker {circuit['target']}: {circuit['state']}, failures {circuit['failures']}"
        )


def _exactly_once(
    keys: dict[tuple[str, str], Key], journal: Journal, effects: Effects, report: Audit
) -> None:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    missing = report.finding("acknowledged messages without their effect")
    twice = report.finding("acknowledged messages whose effect landed more than once")
    mail_twice = report.finding("mails sent twice (SMTP cannot be asked: tolerated)", True)
    unacked_twice = report.finding("never-acknowledged messages with more than one effect")
    for key in keys.values():
        top = journal.by_identity.get((key.caller, key.identity))
        if top is None:
            continue
        for message in journal.chain(top):
            count = effects.count(message)
            if count is None:
                continue
            what = f"{message.target}:{message.operation}"
            sample = f"{message.describe()} has {count}"
            if not key.acknowledged:
                tally[what]["unacked " + ("≤1" if count <= 1 else ">1")] += 1
                if count > 1:
                    unacked_twice.add(sample)
                continue
            tally[what][str(count) if count <= 1 else ">1"] += 1
            if count == 0:
                missing.add(sample)
            elif count > 1 and message.target == "mail":
                mail_twice.add(sample)
            elif count > 1:
                twice.add(sample)
    report.say("effects per message, counted in the simulators (acknowledged: exactly 1):")
    for what, counter in sorted(tally.items()):
        shown = ", ".join(
            f"{label} {counter[label]}"
            for label in ("1", "0", ">1", "unacked ≤1", "unacked >1")
            if counter[label]
        )
        report.say(f"  {what:34} {shown}")
    _right_effect(journal, effects, report)


def _right_effect(journal: Journal, effects: Effects, report: Audit) -> None:
    """Each delivered step names its own effect, and a deal carries its own order's ERP number."""
    foreign = report.finding("delivered messages whose result names another message's effect")
    wrong_number = report.finding("Bitrix24 deals carrying another order's NAV number")
    wrong_lines = report.finding("NAV orders and Bitrix24 deals whose lines are not their order's")
    for order in effects.nav_orders:
        message = journal.messages.get(str(order.get("External_Document_No")))
        lines = _line_set(order.get("SalesOrderSalesLines"), "No", "Quantity")
        if message is not None and message.lines is not None and lines != message.lines:
            wrong_lines.add(f"NAV {order['No']} of {message.id}: {lines}, sent {message.lines}")
    for deal in effects.deals:
        message = journal.messages.get(deal["_message"] or "")
        if message is not None and message.lines is not None and deal["_rows"] != message.lines:
            wrong_lines.add(
                f"deal {deal['ID']} of {message.id} ({message.order_id}): rows {deal['_rows']},"
                f" sent {message.lines}"
            )
    for message in journal.messages.values():
        if message.status != "delivered" or not message.result:
            continue
        if message.operation == "sales_order.create":
            named = effects.nav_by_no.get(str(message.result.get("erp_order_no")))
            if named is not None and named.get("External_Document_No") != message.id:
                foreign.add(f"{message.describe()}: NAV {named['No']} is of another message")
        if message.target == "bitrix24" and message.operation == "order.create":
            named = effects.deals_by_id.get(str(message.result.get("crm_deal_id")))
            if named is not None and named["_message"] != message.id:
                foreign.add(f"{message.describe()}: deal {named['ID']} is {named['_message']}'s")
    for deal in effects.deals:
        crm = journal.messages.get(deal["_message"] or "")
        if crm is None or crm.parent_id is None:
            continue
        navs = effects.nav_by_message.get(crm.parent_id, [])
        number = _ERP_NUMBER.search(str(deal.get("TITLE") or ""))
        if navs and (number is None or number.group(1) != str(navs[0]["No"])):
            wrong_number.add(
                f"deal {deal['ID']} ({deal.get('TITLE')}) of {crm.id}: its order is NAV"
                f" {navs[0]['No']}"
            )


def _orphans(journal: Journal, effects: Effects, report: Audit) -> None:
    orphans = report.finding("effects that no journaled message explains")
    known = journal.messages
    for order in effects.nav_orders:
        if str(order.get("Your_Reference") or "").startswith("CH-"):
            if order.get("External_Document_No") not in known:
                orphans.add(f"NAV order {order['No']} ({order.get('External_Document_No')})")
    for deal in effects.deals:
        if deal.get("ORIGINATOR_ID") == "bus" and deal["_message"] not in known:
            orphans.add(f"Bitrix24 deal {deal['ID']} ({deal.get('TITLE')})")
    for comment in effects.comments:
        found = _COMMENT_MARKER.search(str(comment.get("COMMENT") or ""))
        if found is None or found.group(1) not in known:
            orphans.add(f"Bitrix24 comment {comment['ID']} on {comment['customer']}")
    for call in effects.storefront_calls:
        if call["message_id"] not in known:
            orphans.add(f"storefront {call['method']} {call['message_id']}")
    for mail in effects.mails:
        found = _MAIL_ID.search(str(mail.get("message_id") or ""))
        if found is None or found.group(1) not in known:
            orphans.add(f"mail {mail.get('message_id')} to {mail.get('to')}")
    repeats = sum(1 for call in effects.storefront_calls if call["repeat"])
    refusals = [call for call in effects.storefront_calls if call["error"]]
    report.say(
        f"simulators: NAV {len(effects.nav_orders)} sales orders, Bitrix24 {len(effects.deals)}"
        f" deals and {len(effects.comments)} company comments, storefront"
        f" {len(effects.storefront_calls)} calls ({repeats} repeats answered from its record,"
        f" {len(refusals)} refused), {len(effects.mails)} mails"
    )
    refused = report.finding("storefront calls refused (user exists, unknown customer, …)")
    for call in refusals:
        message = known.get(call["message_id"])
        what = message.describe() if message else call["message_id"]
        refused.add(f"{call['method']} {what}: {call['error']}")


def _one_order_per_order_id(
    keys: dict[tuple[str, str], Key], effects: Effects, report: Audit
) -> None:
    """NAV and Bitrix24 hold at most one order of each storefront order id, whichever message
    made it: a second version, or a repeat with a new key, must not be a second order."""
    twice = report.finding("storefront order ids with more than one NAV order or Bitrix24 deal")
    nav = Counter(str(order.get("Your_Reference")) for order in effects.nav_orders)
    deals = Counter(
        str(deal.get("ORIGIN_ID") or "").rpartition("/")[0]
        for deal in effects.deals
        if deal.get("ORIGINATOR_ID") == "bus"
    )
    order_ids = sorted(
        {call.entity for key in keys.values() for call in key.calls if key.method == "order.submit"}
    )
    for order_id in order_ids:
        if nav[order_id] > 1 or deals[order_id] > 1:
            twice.add(f"{order_id}: {nav[order_id]} NAV orders, {deals[order_id]} deals")
    report.say(
        f"orders: {len(order_ids)} order ids; NAV holds {sum(1 for o in order_ids if nav[o])}"
        f" of them, Bitrix24 {sum(1 for o in order_ids if deals[o])}"
    )


def _order_per_key(calls: list[Call], journal: Journal, effects: Effects, report: Audit) -> None:
    early = report.finding("messages that started before the one ahead of them finished")
    for group in journal.keyed.values():
        for before, after in zip(group, group[1:], strict=False):
            started = after.first_attempt_at
            if started is None:
                continue
            if before.status not in (*DONE, "cancelled") or (
                before.finished_at is None or started < before.finished_at
            ):
                early.add(
                    f"{after.describe()} started {started:%H:%M:%S.%f} while {before.id}"
                    f" [{before.status}] finished {before.finished_at or 'never'}"
                )
    _acceptance_order(calls, journal, report)
    _arrival_order(journal, effects, report)
    _final_states(journal, effects, report)
    report.say(
        f"per-key order: {len(journal.keyed)} ordering keys,"
        f" {sum(len(g) for g in journal.keyed.values())} keyed messages checked"
    )


def _acceptance_order(calls: list[Call], journal: Journal, report: Audit) -> None:
    """A call acknowledged before another was sent is ahead of it in their key."""
    wrong = report.finding("messages accepted out of the order their callers sent them")
    by_key: dict[str, list[tuple[Call, Message]]] = defaultdict(list)
    for call in calls:
        message = journal.messages.get(call.message_id or "")
        if message is not None and message.ordering_key and message.ordering_seq is not None:
            by_key[message.ordering_key].append((call, message))
    for pairs in by_key.values():
        for call, message in pairs:
            for other_call, other in pairs:
                assert call.acked_at is not None and other_call.sent_at is not None
                if call.acked_at < other_call.sent_at and not (
                    (message.ordering_seq or 0) < (other.ordering_seq or 0) or message is other
                ):
                    wrong.add(f"{call.label} acknowledged before {other_call.label} was sent")


def _arrival_order(journal: Journal, effects: Effects, report: Audit) -> None:
    """Each key's effects reached the storefront, NAV and Bitrix24 in acceptance order."""
    wrong = report.finding("effects that reached a system out of acceptance order")
    arrivals: dict[tuple[str, str], list[tuple[int, Message]]] = defaultdict(list)
    for call in effects.storefront_calls:
        message = journal.messages.get(call["message_id"])
        if message is not None and not call["repeat"] and message.ordering_key:
            arrivals[("storefront", message.ordering_key)].append((call["seq"], message))
    for order in effects.nav_orders:
        message = journal.messages.get(str(order.get("External_Document_No")))
        if message is not None and message.ordering_key and str(order["No"]).isdigit():
            arrivals[("navision", message.ordering_key)].append((int(order["No"]), message))
    for deal in effects.deals:
        message = journal.messages.get(deal["_message"] or "")
        if message is not None and message.ordering_key:
            arrivals[("bitrix24", message.ordering_key)].append((int(deal["ID"]), message))
    for (system, key), seen in arrivals.items():
        seen.sort(key=lambda item: item[0])
        seqs = [message.ordering_seq or 0 for _, message in seen]
        if seqs != sorted(seqs):
            shown = " ".join(f"{m.operation}#{m.ordering_seq}" for _, m in seen)
            wrong.add(f"{system} {key}: arrived as {shown}")


def _final_states(journal: Journal, effects: Effects, report: Audit) -> None:
    """Each order shows its last status change; each account, its last create or deactivate."""
    wrong = report.finding("orders and accounts not left in the state of their last message")
    for key, group in journal.keyed.items():
        if any(m.status not in DONE for m in group):
            continue  # reported as stuck or failed already
        if key.startswith("order:"):
            updates = [m for m in group if m.operation == "order.update"]
            if not updates:
                continue
            order_id = key.split(":", 1)[1]
            expected = _status_of(effects, updates[-1].id)
            shown = (effects.orders.get(order_id) or {}).get("status")
            if shown != expected:
                wrong.add(f"order {order_id}: storefront shows {shown!r}, last sent {expected!r}")
        elif key.startswith("customer:"):
            tops = [m for m in group if m.parent_id is None]
            if not tops:
                continue
            customer = key.split(":", 1)[1]
            expected_active = tops[-1].method == "account.create"
            user = effects.users.get(customer) or {}
            if bool(user.get("active")) != expected_active:
                wrong.add(
                    f"account {customer}: active={user.get('active')}, last message"
                    f" {tops[-1].method}"
                )


def _status_of(effects: Effects, message_id: str) -> Any:
    for call in effects.calls_by_message.get(message_id, []):
        return call["params"].get("status")
    return None


def render(report: Audit, header: Iterable[str]) -> str:
    """The report as text: the header, the counts, then every finding (passed or not)."""
    lines = [*header, *report.lines, "invariants:"]
    for finding in report.findings.values():
        mark = "ok  " if not finding.count else ("note" if finding.tolerated else "FAIL")
        lines.append(f"  [{mark}] {finding.name}: {finding.count}")
        lines += [f"           {sample}" for sample in finding.samples]
        if finding.count > len(finding.samples):
            lines.append(f"           … and {finding.count - len(finding.samples)} more")
    return "\n".join(lines)


def _short(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
