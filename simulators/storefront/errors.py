"""JSON-RPC 2.0 errors of the storefront: the codes, the error type methods raise, envelopes.

Codes (the ``error.code`` of a response):

    -32700  Parse error        the body is not JSON
    -32600  Invalid Request    not a JSON-RPC 2.0 request object, or an empty batch
    -32601  Method not found   data {"method"}
    -32602  Invalid params     data {"fields": [{"field", "type", "message"}]}
    -32603  Internal error
    -32001  Unauthorized       missing or wrong bearer token (HTTP 401)
    -32044  unknown customer   data {"customer"}
    -32050  user exists        data {"customer"}: an active user has this customer key
    -32000  Server error       an injected HTTP fault (data {"http_status"})
    -32029  Too many requests  an injected 429 fault (data {"http_status"})
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001
UNKNOWN_CUSTOMER = -32044
USER_EXISTS = -32050
SERVER_ERROR = -32000
TOO_MANY_REQUESTS = -32029


class RpcError(Exception):
    """A call that fails with a JSON-RPC error ``{"code", "message", "data"}``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """The ``error`` member of a response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_response(error: RpcError, request_id: Any) -> dict[str, Any]:
    """A whole JSON-RPC error response object."""
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}


def unknown_customer(customer: str) -> RpcError:
    """No storefront user has this customer key."""
    return RpcError(UNKNOWN_CUSTOMER, "unknown customer", {"customer": customer})


def user_exists(customer: str) -> RpcError:
    """An active user already has this customer key."""
    return RpcError(USER_EXISTS, "user exists", {"customer": customer})


def method_not_found(method: str) -> RpcError:
    """A method the storefront does not serve."""
    return RpcError(METHOD_NOT_FOUND, "Method not found", {"method": method})


def invalid_request(field: str, message: str) -> RpcError:
    """A request object that breaks the JSON-RPC 2.0 envelope, naming the bad member."""
    return RpcError(INVALID_REQUEST, "Invalid Request", {"field": field, "message": message})


def invalid_params(fields: list[dict[str, str]]) -> RpcError:
    """Params that fail validation; ``fields`` names each bad field."""
    return RpcError(INVALID_PARAMS, "Invalid params", {"fields": fields})


def unauthorized() -> RpcError:
    """A missing or wrong bearer token."""
    return RpcError(
        UNAUTHORIZED, "Unauthorized", {"reason": "send 'Authorization: Bearer <token>'"}
    )


def error_body_for_status(status: int) -> dict[str, Any]:
    """The body of an injected HTTP fault, as a JSON-RPC error response with a null id."""
    code = {401: UNAUTHORIZED, 429: TOO_MANY_REQUESTS}.get(status, SERVER_ERROR)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server error"
    return error_response(RpcError(code, phrase, {"http_status": status}), None)
