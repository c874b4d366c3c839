"""The ``B2BDocuments`` codeunit: documents a web shop's customer asks for, as PDF, over SOAP.

NAV has no standard service that issues documents; a deployment publishes an integrator's AL
codeunit like this one (its functions are the simulator's own contract; the wire format is
NAV's). Neither function returns a value: the results come back as ``VAR`` parameters in
``<Function>_Result``.

``IssueInvoice(customerNo: Code20, amount: Decimal, requestId: Text)``
    An invoice for payment of ``amount`` (rounded to cents); results ``number`` (``INV-0001``,
    ``INV-0002``, …), ``documentDate`` (the work date), ``amount`` and ``pdfBase64``.

``ReconciliationAct(customerNo: Code20, year: Integer, quarter: Integer, requestId: Text)``
    A reconciliation act for a calendar quarter that has begun by the work date; results
    ``number`` (``REC-0001``, …), ``documentDate``, ``periodStart``, ``periodEnd`` and
    ``pdfBase64``.

Each document is kept under ``requestId``: a repeat with the same arguments answers the same
document (so a caller whose answer was lost simply asks again), with other arguments fails. An
unknown customer fails with ``NavCSideRecordNotFoundException``; a blocked one, an amount that
is not positive, a quarter outside 1-4 or not begun and a reused ``requestId`` with
``NavNCLDialogException`` (an AL ``Error()``).
"""

from __future__ import annotations

import base64
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from simulators.navision.codeunits import Codeunit, Function, Parameter
from simulators.navision.service import NavService
from simulators.navision.soap import dialog, record_not_found
from simulators.navision.store import IssuedDocument, Record
from simulators.onec.pdf import render_pdf

#: NAV's amount rounding precision for the local currency.
_CENTS = Decimal("0.01")

Results = dict[str, Any]


def issue_invoice(service: NavService, arguments: dict[str, Any]) -> Results:
    """``IssueInvoice``: the invoice issued for ``requestId``, issuing it on the first call."""
    request_id = arguments["requestId"]
    # Rounded before anything else, as NAV validates an amount: 1500.004 asks for 1500.00.
    amount: Decimal = arguments["amount"].quantize(_CENTS, ROUND_HALF_UP)
    asked = {"customerNo": arguments["customerNo"], "amount": amount}
    earlier = _repeat(service, request_id, "IssueInvoice", asked)
    if earlier is not None:
        return earlier
    customer = _customer(service, asked["customerNo"])
    if amount <= 0:
        raise dialog(f"The amount must be positive, not {amount}.")
    # Numbered only once every check has passed: a refused call leaves no gap in the series.
    number = service.store.next_number("IssueInvoice", "INV-0001")
    today = service.today()
    pdf = render_pdf(
        f"Invoice {number}",
        [f"Invoice {number} of {today}", _customer_line(customer), f"Amount: {amount} LCY"],
    )
    results = {"number": number, "documentDate": today, "amount": amount, "pdfBase64": _b64(pdf)}
    return _keep(service, request_id, IssuedDocument("IssueInvoice", asked, results))


def reconciliation_act(service: NavService, arguments: dict[str, Any]) -> Results:
    """``ReconciliationAct``: the act issued for ``requestId``, issuing it on the first call."""
    request_id = arguments["requestId"]
    year, quarter = arguments["year"], arguments["quarter"]
    asked = {"customerNo": arguments["customerNo"], "year": year, "quarter": quarter}
    earlier = _repeat(service, request_id, "ReconciliationAct", asked)
    if earlier is not None:
        return earlier
    customer = _customer(service, asked["customerNo"])
    start, end = quarter_period(year, quarter)
    today = service.today()
    if start > today:
        raise dialog(f"The period {start}..{end} has not begun yet.")
    number = service.store.next_number("ReconciliationAct", "REC-0001")
    pdf = render_pdf(
        f"Reconciliation act {number}",
        [
            f"Reconciliation act {number} of {today}",
            f"Period: {start} to {end}",
            _customer_line(customer),
            f"Balance: {customer.values['Balance_LCY']:.2f} LCY",
        ],
    )
    results = {
        "number": number,
        "documentDate": today,
        "periodStart": start,
        "periodEnd": end,
        "pdfBase64": _b64(pdf),
    }
    return _keep(service, request_id, IssuedDocument("ReconciliationAct", asked, results))


def quarter_period(year: int, quarter: int) -> tuple[date, date]:
    """The first and last day of a calendar quarter.

    Raises:
        SoapFault: ``NavNCLDialogException`` for a quarter outside 1-4 or a year outside
            NAV's dates.
    """
    if not 1 <= quarter <= 4 or not 1 <= year <= 9998:
        raise dialog(f"Quarter {quarter} of {year} is not a calendar quarter.")
    start = date(year, 3 * quarter - 2, 1)
    following = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return start, following - timedelta(days=1)


def _repeat(
    service: NavService, request_id: str, function: str, asked: dict[str, Any]
) -> Results | None:
    """What an earlier call with ``request_id`` answered; ``None`` for a new request id.

    Checked before anything else, so a repeat answers what was issued even if the customer
    has been blocked since.

    Raises:
        SoapFault: ``NavNCLDialogException`` for a blank request id, or one kept for another
            function or other arguments.
    """
    if not request_id.strip():
        raise dialog("The request ID must have a value. It cannot be empty.")
    earlier = service.store.documents.get(request_id)
    if earlier is None:
        return None
    if (earlier.function, earlier.arguments) != (function, asked):
        raise dialog(f"The request ID {request_id} was already used for another document.")
    return earlier.results


def _keep(service: NavService, request_id: str, document: IssuedDocument) -> Results:
    """Keep ``document`` under ``request_id`` for repeats; its results."""
    service.store.documents[request_id] = document
    return document.results


def _customer(service: NavService, customer_no: str) -> Record:
    """The customer documents may be issued for.

    Raises:
        SoapFault: ``NavCSideRecordNotFoundException`` for an unknown customer,
            ``NavNCLDialogException`` for a blocked one.
    """
    customer = service.store.tables["Customer"].get((customer_no,))
    if customer is None:
        raise record_not_found("Customer", f"No.='{customer_no}'")
    blocked = customer.values["Blocked"]
    # Any blocking counts, as for B2BRequests: a blocked account is being dealt with by NAV's
    # users, not served documents by the web shop.
    if blocked.strip():
        raise dialog(
            f"You cannot create this type of document when Customer {customer_no} "
            f"is blocked with type {blocked}"
        )
    return customer


def _customer_line(customer: Record) -> str:
    values = customer.values
    return f"Customer: {values['Name']} ({values['No']}), VAT No. {values['VAT_Registration_No']}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


B2B_DOCUMENTS = Codeunit(
    name="B2BDocuments",
    functions=(
        Function(
            name="IssueInvoice",
            parameters=(
                Parameter("customerNo", "string"),
                Parameter("amount", "decimal"),
                Parameter("requestId", "string"),
            ),
            returns=None,
            run=issue_invoice,
            results=(
                Parameter("number", "string"),
                Parameter("documentDate", "date"),
                Parameter("amount", "decimal"),
                Parameter("pdfBase64", "string"),
            ),
        ),
        Function(
            name="ReconciliationAct",
            parameters=(
                Parameter("customerNo", "string"),
                Parameter("year", "int"),
                Parameter("quarter", "int"),
                Parameter("requestId", "string"),
            ),
            returns=None,
            run=reconciliation_act,
            results=(
                Parameter("number", "string"),
                Parameter("documentDate", "date"),
                Parameter("periodStart", "date"),
                Parameter("periodEnd", "date"),
                Parameter("pdfBase64", "string"),
            ),
        ),
    ),
)
