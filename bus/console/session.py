"""The console's session: who signed in, carried in an encrypted cookie.

The cookie is a Fernet token (encrypted and authenticated, with its time of issue) of the
client's name, a fingerprint of the key it signed in with and the session's CSRF token. Its keys
are derived (HKDF) from the deployment's ``journal_encryption_keys``, so every API process of a
deployment reads the sessions of the others, a rotation of those keys rotates these, and no key
is used for two purposes. A session ends when its cookie is older than :data:`SESSION_SECONDS`,
on logout, and when the client's key changes (the fingerprint no longer matches).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

#: The session cookie's name.
COOKIE = "bus_console"
#: How long a sign-in lasts: an operator's working day.
SESSION_SECONDS = 8 * 3600
#: What the derived keys are for (HKDF's ``info``): never the journal's own keys.
_PURPOSE = b"bus console session cookie"


@dataclass(frozen=True)
class Session:
    """A signed-in client of the console.

    Parameters:
        client: the client's name (``ops``).
        key_fingerprint: a digest of the key it signed in with.
        csrf: the token every form of this session carries.
    """

    client: str
    key_fingerprint: str
    csrf: str

    @classmethod
    def start(cls, client: str, key: SecretStr) -> Session:
        """A new session of ``client``, signed in with ``key``, with a fresh CSRF token."""
        return cls(client, fingerprint(key), secrets.token_urlsafe(32))

    def csrf_matches(self, presented: str) -> bool:
        """Whether a form's token is this session's (compared in constant time)."""
        return secrets.compare_digest(self.csrf.encode(), presented.encode("utf-8", "replace"))


def fingerprint(key: SecretStr) -> str:
    """A digest of a client's key: a session ends when the key it began with is replaced."""
    return hashlib.sha256(key.get_secret_value().encode()).hexdigest()


class SessionCookies:
    """Writes and reads session cookies under keys derived from the journal's keys.

    Parameters:
        journal_keys: the deployment's ``journal_encryption_keys``, the current one first.
    """

    def __init__(self, journal_keys: tuple[SecretStr, ...]) -> None:
        self._fernet = MultiFernet([Fernet(_derived(key)) for key in journal_keys])

    def read(self, request: web.Request) -> Session | None:
        """The request's session, or ``None``: no cookie, a forged or altered one, or too old."""
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            content = json.loads(self._fernet.decrypt(token.encode(), ttl=SESSION_SECONDS))
            return Session(content["client"], content["key"], content["csrf"])
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None

    def write(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        """Set ``session``'s cookie on ``response``: HttpOnly, SameSite=Strict, Secure over
        HTTPS (:func:`over_https`), for the console's paths only."""
        content = {"client": session.client, "key": session.key_fingerprint, "csrf": session.csrf}
        token = self._fernet.encrypt(json.dumps(content).encode()).decode()
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_SECONDS,
            path="/console",
            httponly=True,
            samesite="Strict",
            secure=over_https(request),
        )

    @staticmethod
    def clear(response: web.StreamResponse) -> None:
        """End the session in the browser."""
        response.del_cookie(COOKIE, path="/console")


def over_https(request: web.Request) -> bool:
    """Whether the browser reached the bus over HTTPS: directly, or through a proxy that ended
    TLS and says so (``X-Forwarded-Proto``, ``Forwarded: proto=``). Believing the header is safe
    here: it can only make the cookie Secure, never less private."""
    if request.secure:
        return True
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return forwarded == "https" or any(
        element.get("proto", "").lower() == "https" for element in request.forwarded[:1]
    )


def _derived(journal_key: SecretStr) -> bytes:
    """A Fernet key of the console's own, derived from one journal key."""
    material = base64.urlsafe_b64decode(journal_key.get_secret_value())
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE)
    return base64.urlsafe_b64encode(hkdf.derive(material))
