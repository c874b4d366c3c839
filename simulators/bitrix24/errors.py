"""Bitrix24's error envelope ``{"error", "error_description"}`` and the errors methods raise."""

from __future__ import annotations

from typing import Any

#: The code and text Bitrix24 answers with for a status, used for injected faults.
_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("INVALID_REQUEST", "Bad request"),
    401: ("NO_AUTH_FOUND", "Wrong authorization data"),
    403: ("ACCESS_DENIED", "Access denied"),
    404: ("ERROR_METHOD_NOT_FOUND", "Method not found!"),
    429: ("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
    503: ("QUERY_LIMIT_EXCEEDED", "Too many requests"),
}


class B24Error(Exception):
    """A failed call: the HTTP status and the body's ``error``/``error_description``."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, str]:
        """The error as Bitrix24 sends it."""
        return {"error": self.code, "error_description": self.description}


def error_body_for_status(status: int) -> dict[str, Any]:
    """The body of an injected fault with ``status``, in Bitrix24's envelope."""
    code, description = _BY_STATUS.get(status, ("INTERNAL_SERVER_ERROR", "Internal server error"))
    return {"error": code, "error_description": description}


def no_auth() -> B24Error:
    """A wrong webhook user or code."""
    return B24Error(401, "NO_AUTH_FOUND", "Wrong authorization data")


def method_not_found() -> B24Error:
    """An unknown REST method."""
    return B24Error(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")


def not_found() -> B24Error:
    """A get/update of a missing record (the code really is empty)."""
    return B24Error(400, "", "Not found")


def invalid_id() -> B24Error:
    """A missing or non-numeric ``id``."""
    return B24Error(400, "", "ID is not defined or invalid")


def fields_not_array() -> B24Error:
    """``fields`` that is not a map."""
    return B24Error(400, "", "Parameter 'fields' must be array.")


def query_limit() -> B24Error:
    """The leaky bucket overflowed."""
    return B24Error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")


def operation_time_limit() -> B24Error:
    """The method used up its operating budget for the 10-minute window."""
    return B24Error(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
