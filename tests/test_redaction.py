"""One redaction for everything the bus records, logs or prints: the deployment's configured
secrets wherever they occur, the tokens handed out while it runs, and the shapes secrets travel
in (a Bitrix24 webhook's code, secret query and form parameters, credentials of an
``Authorization`` value, sealed values, fields and headers named as secrets)."""

from __future__ import annotations

import json
import logging
import secrets

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bus.errors import TransientError
from bus.redaction import (
    ISSUED_KEPT,
    REDACTED,
    RedactingFilter,
    Redactor,
    active,
    configured_secrets,
    webhook_code,
)
from bus.sealing import Sealer
from bus.settings import Bitrix24OAuth, Bitrix24Settings, ClientSettings, Settings

WEBHOOK = "https://portal.bitrix24.ru/rest/17/k3y9w2x8q7p1m4n6"


def deployment() -> Settings:
    """Settings with a value of its own in every kind of secret field."""
    oauth = Bitrix24OAuth(
        portal_url="https://portal.bitrix24.ru",
        client_id="local.app",
        client_secret=SecretStr("client-secret-5e7a"),
        refresh_token=SecretStr("refresh-token-0c4d"),
    )
    return Settings(
        bitrix24=Bitrix24Settings(webhook_url=SecretStr(WEBHOOK), oauth=oauth),
        clients={"shop": ClientSettings(key=SecretStr("shop-key-91f3"), methods=("*",))},
    )


def test_every_configured_secret_is_known_with_the_webhooks_code() -> None:
    found = configured_secrets(deployment())
    for value in (
        WEBHOOK,
        "k3y9w2x8q7p1m4n6",
        "client-secret-5e7a",
        "refresh-token-0c4d",
        "shop-key-91f3",
        "bus-secret",  # the ERPs' passwords
        "dev-storefront-inbound",
        "dev-bitrix24-application-token",
    ):
        assert value in found
    assert webhook_code("http://127.0.0.1:7050/rest/1/bus-webhook-code/") == "bus-webhook-code"
    assert webhook_code("https://portal.bitrix24.ru/rest/crm.deal.add.json") is None


def test_a_webhooks_code_is_hidden_in_any_webhook_url_configured_or_not() -> None:
    redactor = Redactor()
    assert redactor.text(f"{WEBHOOK}/crm.deal.add.json") == (
        f"https://portal.bitrix24.ru/rest/17/{REDACTED}/crm.deal.add.json"
    )
    # An OAuth REST URL has no code to hide.
    oauth = "https://portal.bitrix24.ru/rest/crm.deal.add.json"
    assert redactor.text(oauth) == oauth


def test_secret_query_and_form_parameters_are_hidden_and_the_others_kept() -> None:
    redactor = Redactor()
    renewal = (
        "https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token&client_id=local.app"
        "&client_secret=S3cr3t&refresh_token=R3fr3sh"
    )
    assert redactor.text(renewal) == (
        "https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token&client_id=local.app"
        f"&client_secret={REDACTED}&refresh_token={REDACTED}"
    )
    form = "event=ONCRMDEALUPDATE&data[FIELDS][ID]=7&auth%5Bapplication_token%5D=tok3n&ts=1"
    assert redactor.text(form) == (
        f"event=ONCRMDEALUPDATE&data[FIELDS][ID]=7&auth%5Bapplication_token%5D={REDACTED}&ts=1"
    )
    link = "https://b2b.example/auth/set-password?user=u-0003&token=0a1b2c3d"
    assert redactor.text(link).endswith(f"user=u-0003&token={REDACTED}")
    assert (
        redactor.text("sent Authorization: Bearer abc.def-ghi")
        == f"sent Authorization: Bearer {REDACTED}"
    )


def test_a_configured_secret_is_hidden_wherever_it_occurs_plain_or_url_encoded() -> None:
    redactor = Redactor(["pa ss/word+1"])
    error = "bad value 'pa ss/word+1' in pa%20ss%2Fword%2B1 or pa+ss%2Fword%2B1"
    assert redactor.text(error) == f"bad value '{REDACTED}' in {REDACTED} or {REDACTED}"
    # A value too short to be told from ordinary words is left to the shapes.
    assert Redactor(["bus"]).text("the bus is running") == "the bus is running"


def test_tokens_handed_out_at_run_time_are_hidden_once_remembered() -> None:
    redactor = Redactor()
    token = secrets.token_hex(16)
    assert redactor.text(f"expired {token}") == f"expired {token}"
    redactor.remember_issued(token)
    assert redactor.text(f"expired {token}") == f"expired {REDACTED}"
    # Only the newest are kept: a token handed out long ago has expired.
    later = [secrets.token_hex(16) for _ in range(ISSUED_KEPT)]
    redactor.remember_issued(*later)
    assert redactor.text(f"{token} {later[-1]}") == f"{token} {REDACTED}"


def test_a_header_value_redacted_before_a_token_was_remembered_is_redacted_again() -> None:
    """Header values are remembered redacted (they repeat): not past a change of the secrets."""
    redactor = Redactor()
    token = secrets.token_hex(16)
    location = [("Location", f"/orders/7?session={token}")]
    assert redactor.headers(location) == {"Location": f"/orders/7?session={token}"}
    redactor.remember_issued(token)
    assert redactor.headers(location) == {"Location": f"/orders/7?session={REDACTED}"}


def test_json_fields_and_headers_named_as_secrets_are_hidden() -> None:
    redactor = Redactor(["client-secret-5e7a"])
    body = {
        "auth": "t0k3n",
        "UserPassword": "p",
        "set_password_link": Sealer.development().seal("x"),
        "nested": [{"refresh_token": "r", "note": "secret is client-secret-5e7a"}],
        "ID": 7,
    }
    assert redactor.json(body) == {
        "auth": REDACTED,
        "UserPassword": REDACTED,
        "set_password_link": REDACTED,
        "nested": [{"refresh_token": REDACTED, "note": f"secret is {REDACTED}"}],
        "ID": 7,
    }
    sealed = Sealer.development().seal("https://b2b.example/x")
    assert redactor.text(f"kept {sealed}") == f"kept fernet:{REDACTED}"
    headers = [("Authorization", "Basic YnVzOmJ1cy1zZWNyZXQ="), ("BPMCSRF", "c"), ("Accept", "*/*")]
    assert redactor.headers(headers) == {
        "Authorization": REDACTED,
        "BPMCSRF": REDACTED,
        "Accept": "*/*",
    }


def test_delivery_errors_and_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    token = secrets.token_hex(16)
    active().remember_issued(token)
    error = TransientError(f"bitrix24 unreachable: {WEBHOOK}/crm.deal.add.json ({token})")
    assert token not in error.detail and "k3y9w2x8q7p1m4n6" not in str(error)

    logger = logging.getLogger("tests.redaction")
    handler = caplog.handler
    handler.addFilter(RedactingFilter())
    try:
        try:
            raise RuntimeError(f"refused {token}")
        except RuntimeError:
            logger.exception("calling %s with %s", f"{WEBHOOK}/x.json", token)
    finally:
        handler.removeFilter(handler.filters[-1])
    text = caplog.text
    assert "calling" in text and "refused" in text
    assert token not in text and "k3y9w2x8q7p1m4n6" not in text


#: Pieces of the strings of generated documents: plain words, secret names and shapes, a
#: configured secret, and characters JSON escapes.
_PIECES = st.sampled_from(
    [
        "order",
        "Item No",
        " ",
        "=",
        "&",
        "?",
        "/",
        "token",
        "Password",
        "auth",
        "API-Key",
        "Cookie",
        "Bearer ",
        "basic",
        "/rest/17/",
        "k3y9w2x8q7p1m4n6",
        "fernet:",
        "client-secret-5e7a",
        "client%2Dsecret",
        '"',
        "\\",
        "\n",
        "é",
        "\u2028",
    ]
)
_STRINGS = st.lists(_PIECES, max_size=6).map("".join)
_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | _STRINGS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_STRINGS, inner, max_size=4),
    max_leaves=12,
)


@given(document=_DOCUMENTS, ascii_only=st.booleans(), as_bytes=st.booleans(), slashes=st.booleans())
@example(document={"note": "Bearer \norder"}, ascii_only=False, as_bytes=True, slashes=False)
@example(document=["geheim-pässwort"], ascii_only=True, as_bytes=False, slashes=False)
# names a case-blind match takes for secret ones, whose lower case does not say so
@example(
    document={"ap\u0130_key": "v", "\u017fecret": "w"},
    ascii_only=False,
    as_bytes=False,
    slashes=False,
)
@example(document={"cook\u0131e": "v"}, ascii_only=False, as_bytes=True, slashes=False)
# an etag of NAV's, a webhook's path as PHP writes it
@example(
    document={"etag": 'W/"JzQ0OzE7MDsn"', "hook": WEBHOOK},
    ascii_only=True,
    as_bytes=False,
    slashes=True,
)
@settings(max_examples=400, deadline=None)
def test_a_json_document_is_redacted_as_its_value_is(
    document: object, ascii_only: bool, as_bytes: bool, slashes: bool
) -> None:
    """A body's text read whole (no secret in it: parsed, not walked) gives what walking its
    value gives, escaped or not (slashes too, as PHP writes JSON), sent as text or bytes."""
    redactor = Redactor(["client-secret-5e7a", WEBHOOK, "k3y9w2x8q7p1m4n6", "geheim-pässwort"])
    text = json.dumps(document, ensure_ascii=ascii_only)
    if slashes:  # no escape of json.dumps's has a slash in it
        text = text.replace("/", "\\/")
    sent: str | bytes = text.encode() if as_bytes else text
    assert redactor.json_document(sent) == redactor.json(document)


def test_a_json_document_with_a_byte_order_mark_is_read() -> None:
    """As json.loads reads bytes: 1C's HTTP services start their UTF-8 with a BOM."""
    body = '{"Ref_Key": "7a1c", "password": "p"}'.encode("utf-8-sig")
    assert Redactor().json_document(body) == {"Ref_Key": "7a1c", "password": REDACTED}
