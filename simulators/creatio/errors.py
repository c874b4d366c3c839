"""Creatio's error answers: the OData (ASP.NET WebAPI) envelope and the 401 of a lost session."""

from __future__ import annotations

from typing import Any

from aiohttp import web

#: The body Creatio's services answer a missing/expired session or CSRF token with.
AUTH_FAILED_BODY: dict[str, Any] = {
    "Message": "Authentication failed.",
    "StackTrace": None,
    "ExceptionType": "System.InvalidOperationException",
}

_ODATA_EXCEPTION = "Microsoft.OData.ODataException"
_STATUS_MESSAGES = {
    400: "The request is invalid.",
    404: "Not found.",
    500: "An error has occurred.",
    503: "Service unavailable.",
}


class CreatioError(Exception):
    """An OData request that Creatio refuses; rendered with :func:`odata_error_body`.

    Parameters:
        status: the HTTP status.
        message: the human-readable message (also in ``innererror.internalexception``).
        exception_type: the .NET exception type shown in ``innererror.type``.
    """

    def __init__(self, status: int, message: str, exception_type: str = _ODATA_EXCEPTION) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.exception_type = exception_type

    def body(self) -> Any:
        """The JSON body of this error."""
        if self.status == 401:
            # Creatio answers an unknown entity set like a lost session (observed quirk).
            return dict(AUTH_FAILED_BODY)
        return odata_error_body(self.message, self.exception_type)


def odata_error_body(message: str, exception_type: str = _ODATA_EXCEPTION) -> dict[str, Any]:
    """The OData error envelope; creatio-api-py reads ``innererror.internalexception.message``."""
    return {
        "error": {
            "code": "",
            "message": message,
            "innererror": {
                "message": message,
                "type": exception_type,
                "stacktrace": "",
                "internalexception": {"message": message},
            },
        }
    }


def error_body_for_status(status: int) -> Any:
    """The body of an injected fault with ``status`` (see :func:`simulators.faults.install`)."""
    if status == 401:
        return dict(AUTH_FAILED_BODY)
    return odata_error_body(
        _STATUS_MESSAGES.get(status, "An error has occurred."), "System.Exception"
    )


def bad_request(message: str) -> CreatioError:
    """A 400 with an ODataException."""
    return CreatioError(400, message)


def not_found(message: str) -> CreatioError:
    """A 404 for a key that matches no row."""
    return CreatioError(404, message, "System.Collections.Generic.KeyNotFoundException")


def auth_failed_response() -> web.Response:
    """The 401 of a request without a valid session cookie and matching ``BPMCSRF`` header."""
    return web.json_response(AUTH_FAILED_BODY, status=401)
