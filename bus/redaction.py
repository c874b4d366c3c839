"""One redaction of secrets for everything the bus records, logs or prints.

A :class:`Redactor` knows two kinds of secret:

- the deployment's configured secrets: every ``SecretStr`` of the settings (passwords, tokens,
  client keys, the OAuth client secret and refresh token, the Bitrix24 webhook and its code), and
  the ones a system hands out while the bus runs (OAuth access and refresh tokens), told to it
  with :meth:`Redactor.remember_issued`; each is replaced wherever it occurs, plain or URL-encoded;
- the shapes secrets travel in, whoever configured them: the code of a Bitrix24 webhook URL
  (``/rest/<user>/<code>/``), ``name=value`` pairs of query strings and form bodies whose name
  says secret (``auth``, ``client_secret``, ``refresh_token``, ``token``, ``password``, …),
  ``Bearer``/``Basic`` credentials, sealed values (``fernet:…``), and JSON fields and headers
  named so.

The process's redactor is :func:`active`; :func:`configure` makes it know the deployment's
settings. The attempt log (:mod:`bus.adapters.recording`), delivery errors
(:class:`bus.errors.DeliveryError`), log lines (:class:`RedactingFilter`) and the CLI's output use
it.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import BaseModel, SecretStr

#: What a secret is replaced with.
REDACTED = "***"
#: Shorter configured values are redacted only by their shape: replacing every occurrence of a
#: short word would mangle ordinary text.
MIN_SECRET_LENGTH = 6
#: How many of the tokens handed out while the process runs are redacted by value (their shapes
#: and field names are redacted whatever their age).
ISSUED_KEPT = 64
#: How many header values the redaction of headers remembers (:meth:`Redactor.headers`).
HEADER_VALUES_KEPT = 1024

#: A field, header or parameter name that says its value is a secret.
SECRET_NAME = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|auth|cookie|bpmcsrf", re.I)
#: ``name=value`` in a query string or a form body, the name saying secret (``auth[...]`` too,
#: raw or percent-encoded).
_SECRET_PAIR = re.compile(
    r"((?:^|(?<=[?&;\s\"'(]))[\w.\[\]%-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|auth)"
    r"[\w.\[\]%-]*=)[^&;\s\"'#)]+",
    re.I,
)
#: The code of a Bitrix24 incoming webhook: ``…/rest/<user id>/<code>/…``.
_WEBHOOK_CODE = re.compile(r"(/rest/\d+/)[^/\s?#\"']+")
#: Words one of which a secret parameter's name or an ``Authorization`` value has.
_PAIR_WORDS = ("pass", "secret", "token", "api", "auth")
_SCHEME_WORDS = ("bearer", "basic", "digest", "ntlm")
#: A value sealed under the journal's keys (:mod:`bus.sealing`): useless without them, but
#: nothing people need to see either.
_SEALED = re.compile(r"\b(fernet:)[\w=-]+")
#: Credentials of an ``Authorization`` value written out in text.
_SCHEME_CREDENTIALS = re.compile(r"\b(Bearer|Basic|Digest|NTLM)\s+[\w.~+/=-]+", re.I)


class Redactor:
    """Replaces secrets in text, JSON values and headers (see the module docstring).

    Parameters:
        secrets: values to redact wherever they occur.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._configured: frozenset[str] = frozenset()
        #: tokens handed out while the process runs, the newest last (older ones expired)
        self._issued: collections.deque[str] = collections.deque(maxlen=ISSUED_KEPT)
        self._pattern: re.Pattern[str] | None = None
        #: header value -> the pattern it was redacted with, and the redacted value
        self._header_values: dict[str, tuple[re.Pattern[str] | None, str]] = {}
        self.remember(*secrets)

    def remember(self, *secrets: str) -> None:
        """Redact ``secrets`` (configured values) from now on, for as long as the process runs."""
        with self._lock:
            forms = _forms(secrets)
            if not forms <= self._configured:
                self._configured |= forms
                self._compile()

    def remember_issued(self, *tokens: str) -> None:
        """Redact ``tokens`` a system just handed out; the :data:`ISSUED_KEPT` newest are kept
        (a token that old has long expired, and each one makes every redaction slower)."""
        with self._lock:
            fresh = [form for form in _forms(tokens) if form not in self._issued]
            if fresh:
                self._issued.extend(fresh)
                self._compile()

    def _compile(self) -> None:
        known = self._configured | set(self._issued)
        # Longest first: a secret containing another is replaced whole.
        ordered = sorted(known, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def text(self, text: str) -> str:
        """``text`` with every secret, known or by its shape, replaced by ``***``."""
        # Each shape only where its words are: most recorded strings have none, and a substring
        # test is far cheaper than a regular expression's scan (bodies hold thousands of strings).
        lowered = text.lower()
        if "/rest/" in text:
            text = _WEBHOOK_CODE.sub(rf"\1{REDACTED}", text)
        if "=" in text and any(word in lowered for word in _PAIR_WORDS):
            text = _SECRET_PAIR.sub(rf"\1{REDACTED}", text)
        if any(word in lowered for word in _SCHEME_WORDS):
            text = _SCHEME_CREDENTIALS.sub(rf"\1 {REDACTED}", text)
        if "fernet:" in text:
            text = _SEALED.sub(rf"\1{REDACTED}", text)
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)

    def json(self, value: Any) -> Any:
        """A copy of a JSON value: fields named as secrets hidden, every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                key: REDACTED if secret_name(str(key)) else self.json(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.json(item) for item in value]
        return value

    def json_document(self, document: str | bytes) -> Any:
        """The JSON value of ``document`` (a body as it went), redacted as :meth:`json` does.

        Raises:
            ValueError: ``document`` is not JSON.

        Most bodies hold no secret: one whose text as a whole has nothing to redact and no
        secret name is parsed only, not walked string by string (several times the parse).
        The text as a whole stands for every string in it only where each is spelled as its
        value: a document with escapes other than a quote's and a slash's (``\\u0041``,
        ``\\n``) is walked (:func:`_strings_as_values`).
        """
        text = (
            document  # bytes are decoded as json.loads decodes them (a BOM, UTF-16)
            if isinstance(document, str)
            else document.decode(json.detect_encoding(document), "surrogatepass")
        )
        value = json.loads(text)
        spelled = _strings_as_values(text)
        if (
            spelled is not None
            and not _may_name_a_secret(spelled)
            and self.text(spelled) == spelled
        ):
            return value
        return self.json(value)

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Headers with the values of credential headers hidden and the others redacted."""
        return {
            name: REDACTED if secret_name(name) else self._header_value(value)
            for name, value in headers
        }

    def _header_value(self, value: str) -> str:
        """:meth:`text` of a header's value, remembered: most values come again in the next
        exchange (types, hosts, agents), and every attempt's record redacts both exchanges'
        headers. A value redacted before the secrets last changed is redacted again."""
        pattern = self._pattern  # before redacting: a change meanwhile makes this one stale
        known = self._header_values.get(value)
        if known is not None and known[0] is pattern:
            return known[1]
        if len(self._header_values) >= HEADER_VALUES_KEPT:
            self._header_values.clear()  # the unique ones (dates, lengths, etags) pile up
        redacted = self.text(value)
        self._header_values[value] = (pattern, redacted)
        return redacted


def _strings_as_values(text: str) -> str | None:
    """JSON ``text`` with each string spelled as its value, where its only escapes are a quote's
    and a slash's (``\\"``, ``\\/``), undone; ``None`` if it has others.

    Those two are the escapes of most bodies that have any: every etag of NAV's OData
    (``W/\\"…\\"``), every slash of PHP's JSON (Bitrix24's). Each backslash followed by
    one of them is the whole escape: an escaped backslash would be a backslash followed by
    another, which the count tells apart.
    """
    backslashes = text.count("\\")
    if not backslashes:
        return text
    if backslashes != text.count('\\"') + text.count("\\/"):
        return None
    return text.replace('\\"', '"').replace("\\/", "/")


@functools.lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a field, header or parameter called ``name`` holds a secret."""
    return SECRET_NAME.search(name) is not None


#: Words one of which every match of :data:`SECRET_NAME` has, in lower case.
_NAME_WORDS = (
    "pass",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "auth",
    "cookie",
    "bpmcsrf",
)


#: The letters a case-blind expression matches to the ASCII letters of those words that
#: ``str.lower`` does not turn into them: dotless and dotted I (lowered: ``i`` and a combining
#: dot), long S. The combining dot is dropped everywhere: a match more only means a walk more.
_CASE_BLIND = str.maketrans({"\u0131": "i", "\u017f": "s", "\u0307": None})


def _may_name_a_secret(text: str) -> bool:
    """Whether :data:`SECRET_NAME` may match somewhere in ``text``: a substring test of its
    words, several times faster on a whole body than the expression's case-blind scan."""
    lowered = text.lower()
    if not lowered.isascii():
        lowered = lowered.translate(_CASE_BLIND)
    return any(word in lowered for word in _NAME_WORDS)


def _forms(secrets: Iterable[str]) -> set[str]:
    """Each secret long enough to redact by value, as it is and URL-encoded."""
    return {
        form
        for secret in secrets
        if len(secret) >= MIN_SECRET_LENGTH
        for form in (secret, quote(secret, safe=""), quote_plus(secret))
    }


def configured_secrets(settings: BaseModel) -> list[str]:
    """Every ``SecretStr`` value of ``settings``, and the code of each webhook URL among them."""
    found: list[str] = []
    _collect(settings, found)
    return found + [code for value in found if (code := webhook_code(value))]


def _collect(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect(getattr(value, name), found)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)


def webhook_code(url: str) -> str | None:
    """The secret code of a Bitrix24 webhook URL (``…/rest/<user>/<code>``), if it is one."""
    if "://" not in url:
        return None
    parts = [part for part in urlsplit(url).path.split("/") if part]
    if len(parts) >= 3 and parts[-3] == "rest" and parts[-2].isdigit():
        return parts[-1]
    return None


_active = Redactor()


def active() -> Redactor:
    """The process's redactor (shapes only until :func:`configure`)."""
    return _active


def configure(settings: BaseModel) -> Redactor:
    """Make the process's redactor know the configured secrets of ``settings``."""
    _active.remember(*configured_secrets(settings))
    return _active


def redact(text: str) -> str:
    """``text`` redacted by the process's redactor."""
    return _active.text(text)


class RedactingFilter(logging.Filter):
    """Redacts every log record a handler emits: its message, arguments and traceback."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` redacted; never drops it."""
        record.msg = _active.text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _active.text(record.exc_text)
        if record.stack_info:
            record.stack_info = _active.text(record.stack_info)
        return True


def redact_logging(logger: logging.Logger | None = None) -> None:
    """Put a :class:`RedactingFilter` on every handler of ``logger`` (the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
