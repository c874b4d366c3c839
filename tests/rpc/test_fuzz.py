"""Property-based fuzzing of the edge, against a real ``bus serve`` and the simulators it talks to.

Every method's params (drawn from its published JSON Schema, then mutated), the JSON-RPC envelope
and batches, raw bytes (plain and under a ``Content-Encoding``) and the Bitrix24 hook. For every
request: an answer in JSON, never an HTTP 500, never ``-32603`` for the caller's input, the id
echoed, ``error.data`` an object and no exception text. The number of examples is bounded so the
module runs in well under a minute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.errors import CALL_ERRORS
from bus.settings import DEV_KEYS, Settings
from schemas.catalog import METHODS
from schemas.export import generated_files
from tests.support.processes import Stack
from tests.support.schema_strategies import JSON_VALUES, from_schema
from tests.test_schema_agreement import mutated

FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.filter_too_much,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

#: The message of every code the edge answers: anything else would be text from elsewhere.
MESSAGES = {
    -32700: "Parse error",
    -32600: "Invalid Request",
    -32601: "Method not found",
    **{error.code: error.message for error in CALL_ERRORS},
}
INTERNAL_ERROR = -32603

#: Words of Python's own exceptions and of its argument binding, which no caller should read.
EXCEPTION_TEXT = re.compile(
    r"Traceback|File \"|[A-Z][a-z]+(Error|Exception)\b|NoneType|object has no attribute"
    r"|multiple values for argument|unexpected keyword argument|positional argument"
    r"|Expecting (value|property name|',' delimiter)|Invalid control character"
)

_FILES = generated_files()  # once: it renders every schema and the OpenRPC document
SCHEMAS = {name: _FILES[f"{name}.params.json"] for name in METHODS}
CLIENTS = Settings().clients


def caller_of(method: str) -> str:
    """The key of a client that may call ``method`` (the storefront's when several may)."""
    for name in ("storefront", "erp", "crm", "ops"):
        if CLIENTS[name].may_call(method):
            return DEV_KEYS[name]
    raise AssertionError(f"no client may call {method}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The bus with its ERP's and CRM's simulators, on a fresh journal."""
    tmp = tmp_path_factory.mktemp("fuzz")
    stack = Stack(
        {"BUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bus.db'}"},
        tmp,
        simulators=("navision", "bitrix24"),
    )
    stack.start_simulators()
    stack.start_api()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        yield client


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in an answer: not JSON")

    return json.loads(text, parse_constant=refuse)


def check_error(error: dict[str, Any], sent: Any) -> None:
    code = error["code"]
    assert code != INTERNAL_ERROR, f"internal error for caller input {sent!r}"
    assert error["message"] == MESSAGES.get(code), error
    assert isinstance(error["data"], dict), error
    for text in _messages(error["data"]):
        assert not EXCEPTION_TEXT.search(text), (text, sent)


def _messages(data: Any) -> Iterator[str]:
    """The explanatory texts of ``data`` (not the caller's own words it names, e.g. a field)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in {"message", "reason", "detail"} and isinstance(value, str):
                yield value
            else:
                yield from _messages(value)
    elif isinstance(data, list):
        for value in data:
            yield from _messages(value)


def check_answer(response: httpx.Response, sent: Any) -> Any:
    """The answer's JSON after the checks every answer passes."""
    assert response.status_code != 500, (response.text, sent)
    if response.status_code == 204:
        assert response.content == b""
        return None
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = strict_json(response.text)
    for answer in body if isinstance(body, list) else [body]:
        assert answer["jsonrpc"] == "2.0" and ("result" in answer) != ("error" in answer)
        if "error" in answer:
            check_error(answer["error"], sent)
    return body


def expected_id(item: Any) -> tuple[bool, Any]:
    """Whether ``item`` is answered, and with which id."""
    if not isinstance(item, dict):
        return True, None
    well_formed = item.get("jsonrpc") == "2.0" and isinstance(item.get("method"), str)
    well_formed = well_formed and ("params" not in item or isinstance(item["params"], dict | list))
    if "id" not in item:
        return not well_formed or set(item) - {"jsonrpc", "method", "params"} != set(), None
    valid = item["id"] is None or (
        isinstance(item["id"], str | int | float) and not isinstance(item["id"], bool)
    )
    return True, item["id"] if valid else None


def post(http: httpx.Client, body: Any, key: str, **headers: str) -> httpx.Response:
    raw = json.dumps(body).encode()
    sent = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers}
    return http.post("/rpc", content=raw, headers=sent)


@pytest.mark.parametrize("method", sorted(METHODS))
@FUZZ
@given(data=st.data())
def test_every_methods_params(http: httpx.Client, method: str, data: st.DataObject) -> None:
    schema = SCHEMAS[method]
    params = data.draw(from_schema(schema) | from_schema(schema).flatmap(mutated), label="params")
    request_id = data.draw(st.integers() | st.text(max_size=20), label="id")
    request = {"jsonrpc": "2.0", "method": method, "params": params, "id": request_id}
    body = check_answer(post(http, request, caller_of(method)), request)
    assert body["id"] == request_id and type(body["id"]) is type(request_id)


ENVELOPE_MEMBERS = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | JSON_VALUES,
        "method": st.sampled_from(sorted(METHODS)) | JSON_VALUES,
        "params": st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=4) | JSON_VALUES,
        "id": st.integers()
        | st.text(max_size=10)
        | st.floats(allow_nan=False, allow_infinity=False)
        | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)
ITEMS = ENVELOPE_MEMBERS | JSON_VALUES


@FUZZ
@given(item=ITEMS, key=st.sampled_from(sorted(DEV_KEYS.values())))
def test_the_envelope(http: httpx.Client, item: Any, key: str) -> None:
    body = check_answer(post(http, item, key), item)
    if isinstance(item, list):
        return  # a batch: its own test
    answered, request_id = expected_id(item)
    if not answered:
        assert body is None
        return
    assert body is not None and body["id"] == request_id
    assert type(body["id"]) is type(request_id)


@FUZZ
@given(items=st.lists(ENVELOPE_MEMBERS, min_size=1, max_size=8))
def test_batches(http: httpx.Client, items: list[Any]) -> None:
    body = check_answer(post(http, items, DEV_KEYS["storefront"]), items)
    answered = [expected_id(item) for item in items]
    expected = sorted((repr(i) for a, i in answered if a), key=str)
    got = sorted((repr(answer["id"]) for answer in body or []), key=str)
    assert got == expected


@FUZZ
@given(
    raw=st.binary(max_size=300)
    | st.text(max_size=200).map(str.encode)
    | st.from_regex(
        r"\{\"jsonrpc\": ?\"2\.0\", ?\"method\": ?\"rpc\.discover\", ?\"id\": ?-?[0-9e.+]{1,12}\}",
        fullmatch=True,
    ).map(str.encode),
    encoding=st.sampled_from(["", "gzip", "deflate", "identity", "br", "gzip, deflate"]),
)
def test_raw_bytes(http: httpx.Client, raw: bytes, encoding: str) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    sent = {"Authorization": f"Bearer {DEV_KEYS['storefront']}", **headers}
    response = http.post("/rpc", content=raw, headers=sent)
    check_answer(response, raw)


@FUZZ
@given(
    form=st.fixed_dictionaries(
        {},
        optional={
            "event": st.sampled_from(["ONCRMDEALUPDATE", "ONCRMDEALADD", "ONCRMDEALDELETE"])
            | st.text(max_size=20),
            "data[FIELDS][ID]": st.integers(0, 10**6).map(str) | st.text(max_size=30),
            "ts": st.text(max_size=12),
        },
    ),
    right_token=st.booleans(),
)
def test_the_bitrix24_hook(http: httpx.Client, form: dict[str, str], right_token: bool) -> None:
    token = Settings().bitrix24.application_token.get_secret_value()
    sent = {**form, "auth[application_token]": token if right_token else "forged"}
    response = http.post("/hooks/bitrix24", data=sent)
    assert response.status_code in {200, 400, 401}, (response.status_code, response.text, sent)
    assert isinstance(strict_json(response.text), dict)


def test_the_fuzzing_left_no_traceback(stack: Stack, http: httpx.Client) -> None:
    """Runs last in the module: nothing the fuzzing sent made the edge log an exception."""
    log = stack.processes[-1].output()
    assert "Error handling request" not in log and "Unhandled exception" not in log, log[-4000:]
    assert "internal error in" not in log, log[-4000:]
