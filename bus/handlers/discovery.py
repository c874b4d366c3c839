"""``rpc.discover``: the OpenRPC document of the methods the caller may call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bus import __version__
from bus.errors import CALL_ERRORS
from bus.rpc import Call, MethodSpec
from bus.services import Services
from schemas.catalog import METHODS, NoParams
from schemas.openrpc import openrpc_document


def methods(services: Services, served: Iterable[str]) -> list[MethodSpec]:
    """The discovery method, bound to ``services``, describing the ``served`` methods."""
    errors = [(error.code, error.message) for error in CALL_ERRORS]
    described = {*served, "rpc.discover"}

    # The document depends only on the client: built once per client, not once per call (it is
    # tens of kilobytes of JSON Schema, and a batch of discovers would rebuild it each time).
    documents: dict[str, dict[str, Any]] = {}

    async def discover(call: Call, params: NoParams) -> dict[str, Any]:
        document = documents.get(call.client)
        if document is None:
            client = services.settings.clients[call.client]
            allowed = [
                method
                for name, method in METHODS.items()
                if name in described and client.may_call(name)
            ]
            document = documents[call.client] = openrpc_document(__version__, errors, allowed)
        return document

    return [MethodSpec.serving("rpc.discover", discover)]
