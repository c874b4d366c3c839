"""Reading a failure report (:class:`schemas.notices.FailureReport`) out of a delivery.

The mail and CRM adapters that tell a customer's manager and the CRM of a failed step share this
one reading, so a payload that is no report is refused the same way everywhere.
"""

from __future__ import annotations

from pydantic import ValidationError

from bus.adapters.base import Delivery
from bus.errors import PermanentError
from schemas.notices import FailureReport

#: The operation that carries a failure report to the CRM (and its method).
REPORT_OPERATION = "failure.report"


def failure_report(delivery: Delivery, system: str) -> FailureReport:
    """The report ``delivery`` carries.

    Raises:
        PermanentError: the payload is no failure report (repeating cannot make it one).
    """
    try:
        return FailureReport.model_validate(delivery.payload)
    except ValidationError as invalid:
        raise PermanentError(f"{system}: not a failure report: {invalid}") from None
