"""1C's two error shapes and the exceptions that carry them to the HTTP edge.

The standard OData interface answers every failure with
``{"odata.error": {"code": "<n>", "message": {"lang": "ru", "value": "<text>"}}}``. The codes
are the platform's own table (``-1`` internal, ``0`` not supported … ``21`` function not
implemented, as listed in the 1C documentation and mirrored by public 1C OData clients); which
HTTP status goes with which code is only partly documented, so the pairs below are the
simulator's choice where no public observation exists (marked *unverified*).

HTTP services (``/hs/…``) are written by the configuration's developer; the simulated one answers
``{"error": "<text>"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulators.odata_service import ODataError

#: The platform's message for code -1, sent for any unexpected failure.
INTERNAL_MESSAGE = (
    "Произошла внутренняя ошибка OData сервиса. "
    "Дополнительные сведения можно найти в технологическом журнале."
)

# The platform's own texts for its codes (used when a fault needs a body for a bare status).
_TEXTS: dict[str, str] = {
    "-1": INTERNAL_MESSAGE,
    "0": "Возможность не поддерживается",
    "2": "Неверный формат запроса",
    "9": "Экземпляр сущности не найден",
    "14": "Ошибка разбора опций запроса",
    "19": "Использованный HTTP-метод запрещен в данном контексте",
    "20": "Ошибка прав доступа",
}
_STATUS_CODES: dict[int, str] = {400: "2", 401: "20", 403: "20", 404: "9", 405: "19", 412: "0"}


class OneCError(ODataError):
    """A failure of the standard OData interface, rendered in the ``odata.error`` envelope.

    ``code`` is the platform's as a string (``"-1"``, ``"13"``…); ``message`` is the Russian
    text sent as ``message.value``.
    """


class ServiceError(Exception):
    """A failure of the HTTP service, rendered as ``{"error": message}``.

    Parameters:
        status: the HTTP status (4xx or 5xx).
        message: the text of ``error``.
        headers: extra response headers.
    """

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> dict[str, Any]:
    """The ``odata.error`` envelope."""
    return {"odata.error": {"code": code, "message": {"lang": "ru", "value": message}}}


def error_body_for_status(status: int) -> dict[str, Any]:
    """The envelope for a bare status, used as the body of injected faults."""
    code = "-1" if status >= 500 else _STATUS_CODES.get(status, "2")
    return error_body(code, _TEXTS.get(code, INTERNAL_MESSAGE))


def internal_error(detail: str | None = None) -> OneCError:
    """500, code -1: what 1C answers for any failure inside the configuration's code."""
    return OneCError(500, "-1", detail or INTERNAL_MESSAGE)


def bad_format(detail: str) -> OneCError:
    """400, code 2: a body that is not the JSON object the request needs."""
    return OneCError(400, "2", f"Неверный формат запроса: {detail}")


def bad_option(detail: str) -> OneCError:
    """400, code 14: a query option (``$filter``, ``$select``…) that cannot be parsed."""
    return OneCError(400, "14", f"Ошибка разбора опций запроса: {detail}")


def unsupported_representation(requested: str) -> OneCError:
    """400, code 3: a ``$format`` the simulator does not write (the real server has Atom too)."""
    return OneCError(
        400, "3", f"Запрошенный тип представления не поддерживается: '{requested}' (только json)"
    )


def bad_url(detail: str) -> OneCError:
    """400, code 6: a resource path the interface cannot parse."""
    return OneCError(400, "6", f"Неверный URL: {detail}")


def invalid_value(name: str, detail: str) -> OneCError:
    """400, code 4: a property value of the wrong type or an unknown reference."""
    return OneCError(400, "4", f"Неверное значение свойства '{name}': {detail}")


def missing_value(name: str) -> OneCError:
    """400, code 5: a required property (``LineNumber`` of a row) is absent."""
    return OneCError(400, "5", f"Отсутствует обязательное значение свойства '{name}'")


def unknown_property(name: str, entity: str) -> OneCError:
    """400, code 10: a body names a property the entity does not have."""
    return OneCError(400, "10", f"Запрошенное свойство не найдено: '{name}' ({entity})")


def entity_set_not_found(name: str) -> OneCError:
    """404, code 8: the path names no published object (*unverified* status)."""
    return OneCError(404, "8", f"Тип сущности не найден: '{name}'")


def instance_not_found() -> OneCError:
    """404, code 9: no object has that key."""
    return OneCError(404, "9", "Экземпляр сущности не найден")


def method_not_found(name: str) -> OneCError:
    """400, code 11: an unknown action or virtual table (*unverified* status)."""
    return OneCError(400, "11", f"Метод не найден: '{name}'")


def rows_directly() -> OneCError:
    """400, code 13: rows of a tabular section cannot be written on their own."""
    return OneCError(400, "13", "Создание строк табличных частей напрямую не поддерживается")


def duplicate_key(detail: str) -> OneCError:
    """400, code 15: the key (or document number) is taken (*unverified* status)."""
    return OneCError(400, "15", f"Сущность с таким ключом уже существует: {detail}")


def method_forbidden(method: str) -> OneCError:
    """405, code 19: the resource does not take that HTTP method."""
    return OneCError(405, "19", f"Использованный HTTP-метод запрещен в данном контексте: {method}")


def version_mismatch() -> OneCError:
    """412: ``If-Match`` names a ``DataVersion`` the object no longer has (*unverified* code)."""
    return OneCError(412, "0", "Версия объекта не совпадает с указанной в заголовке If-Match")
