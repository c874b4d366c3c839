"""NAV's OData error envelope and the exception that carries it to the HTTP edge.

NAV answers every failure as ``{"error": {"code": "<Category_Reason>", "message": "<text>
CorrelationId:  <guid>."}}`` (two spaces before and after ``CorrelationId:``), with codes from
``dynamics-error-codes.md``.
"""

from __future__ import annotations

import uuid
from typing import Any

from simulators.odata_service import ODataError

#: Status -> code used when a fault or an unexpected answer needs NAV's envelope.
_STATUS_CODES: dict[int, str] = {
    400: "BadRequest",
    401: "Authentication_InvalidCredentials",
    403: "Authorization_InsufficientPermissions",
    404: "BadRequest_NotFound",
    405: "BadRequest_MethodNotAllowed",
    408: "RequestTimeout",
    409: "Request_EntityChanged",
    429: "Application_TooManyRequests",
    503: "ServiceUnavailable",
}


class NavError(ODataError):
    """A failure that NAV reports with its error envelope.

    ``code`` is NAV's, e.g. ``Internal_RecordNotFound``; the correlation id is appended to
    ``message`` when rendered (see :func:`error_body`).
    """


def error_body(code: str, message: str) -> dict[str, Any]:
    """NAV's envelope with a fresh correlation id, as NAV adds one to every error."""
    return {"error": {"code": code, "message": f"{message}  CorrelationId:  {uuid.uuid4()}."}}


def error_body_for_status(status: int) -> dict[str, Any]:
    """The envelope NAV would send for a bare status (used by injected faults)."""
    code = _STATUS_CODES.get(status, "Unknown" if status >= 500 else "BadRequest")
    return error_body(code, "An error occurred while processing this request.")


def no_resource(url: object) -> NavError:
    """404 ``BadRequest_NotFound`` for a URL that names nothing the server publishes."""
    return NavError(
        404,
        "BadRequest_NotFound",
        f"No HTTP resource was found that matches the request URI '{url}'.",
    )


def bad_request(message: str) -> NavError:
    """400 ``BadRequest``: the OData layer rejected the request's syntax or shape."""
    return NavError(400, "BadRequest", message)


def record_not_found(table: str, identification: str, status: int = 400) -> NavError:
    """``Internal_RecordNotFound`` in NAV's wording, e.g. ``No.='99999'`` for a customer."""
    return NavError(
        status,
        "Internal_RecordNotFound",
        f"The {table} does not exist. Identification fields and values: {identification}",
    )


def field_validation(message: str) -> NavError:
    """400 ``Application_FieldValidationException`` (an AL ``TestField`` failure)."""
    return NavError(400, "Application_FieldValidationException", message)


def dialog(message: str) -> NavError:
    """400 ``Application_DialogException`` (an AL ``Error()`` call)."""
    return NavError(400, "Application_DialogException", message)
