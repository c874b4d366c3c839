"""Secrets the journal must keep, encrypted under the deployment's keys (Fernet).

The journal keeps a few secrets because a later step or another process needs them: the OAuth
tokens Bitrix24 hands out (:mod:`bus.journal.credentials`) and the set-password link the
storefront gives for a new user, until its mail is sent (:mod:`bus.adapters.storefront`). Each
is kept *sealed*: ``fernet:<token>``, encrypted and authenticated with the first of the
``journal_encryption_keys`` setting; every key of the list opens it (``MultiFernet``), so a key
is rotated by putting the new one first, re-encrypting (``bus secrets reencrypt``), then
dropping the old one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from bus.settings import DEV_JOURNAL_KEY, Settings

#: What marks a sealed value.
PREFIX = "fernet:"


class SealError(Exception):
    """A sealed value none of the keys opens (a key dropped too early, or a forged value)."""


class Sealer:
    """Seals and opens secrets with a list of Fernet keys: the first seals, every one opens.

    Parameters:
        keys: url-safe base64 32-byte Fernet keys, the current one first.
    """

    def __init__(self, keys: Sequence[str | SecretStr]) -> None:
        if not keys:
            raise ValueError("at least one journal encryption key is needed")
        plain = [k.get_secret_value() if isinstance(k, SecretStr) else k for k in keys]
        self._fernet = MultiFernet([Fernet(key) for key in plain])

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        """The sealer of the deployment's ``journal_encryption_keys``."""
        return cls(settings.journal_encryption_keys)

    @classmethod
    def development(cls) -> Sealer:
        """The sealer of the embedded default's development key."""
        return cls([DEV_JOURNAL_KEY])

    def seal(self, secret: str) -> str:
        """``secret`` encrypted under the first key, marked as sealed."""
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret of a sealed value.

        Raises:
            SealError: no key opens it.
        """
        if not is_sealed(sealed):
            raise SealError("not a sealed value")
        try:
            return self._fernet.decrypt(sealed.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SealError("no journal encryption key opens the sealed value") from None

    def reseal(self, sealed: str) -> str:
        """A sealed value sealed again under the first key (for key rotation)."""
        if not is_sealed(sealed):
            raise SealError("not a sealed value")
        try:
            token = self._fernet.rotate(sealed.removeprefix(PREFIX).encode())
        except InvalidToken:
            raise SealError("no journal encryption key opens the sealed value") from None
        return PREFIX + token.decode()

    def reseal_json(self, value: Any) -> Any:
        """A copy of a JSON value with every sealed string in it sealed again."""
        if isinstance(value, dict):
            return {key: self.reseal_json(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.reseal_json(item) for item in value]
        return self.reseal(value) if is_sealed(value) else value


def hidden(value: Any) -> Any:
    """A copy of a JSON value with every sealed string replaced by ``fernet:***``: what callers
    and people are shown (the steps that need a sealed secret read the journal itself)."""
    if isinstance(value, dict):
        return {key: hidden(item) for key, item in value.items()}
    if isinstance(value, list):
        return [hidden(item) for item in value]
    return f"{PREFIX}***" if is_sealed(value) else value


def is_sealed(value: Any) -> bool:
    """Whether ``value`` is a sealed string."""
    return isinstance(value, str) and value.startswith(PREFIX)
