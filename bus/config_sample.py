"""The sample configuration file, written from the settings model: every setting with its
default and its description, so the sample cannot drift from what the bus reads.

Secrets are not written with a value: each is a comment naming the ``BUS_*`` variable that sets
it, so a copy of the sample carries none of the public values the bus ships with.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bus.settings import Settings

_WIDTH = 100
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

HEADER = """\
# The bus's configuration: every setting with its default. Name this file with BUS_CONFIG;
# BUS_* environment variables win over it (nested with __: [navision] url is
# BUS_NAVISION__URL). Secrets are not kept here: each is a comment naming its variable, to set
# in the environment (an env or credentials file only the bus reads).
# Written by `bus config sample` from the settings themselves.
"""


def sample(settings: Settings | None = None) -> str:
    """The sample file: ``settings`` (the defaults unless given) as commented TOML."""
    settings = settings or Settings()
    return HEADER + "\n".join(_table(settings, ())) + "\n"


def _table(model: BaseModel, path: tuple[str, ...]) -> Iterator[str]:
    """The keys of ``model`` (a table at ``path``), then its sub-tables."""
    tables: list[tuple[str, Any, FieldInfo]] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if _is_table(value):
            tables.append((name, value, field))
        else:
            yield from _key(name, value, field, path)
    for name, value, field in tables:
        yield from _sub_tables(name, value, field, path)


def _is_table(value: Any) -> bool:
    """Whether ``value`` is written as tables of its own rather than as one key."""
    if isinstance(value, BaseModel):
        return True
    if isinstance(value, dict) and value:
        return all(isinstance(v, BaseModel) for v in value.values()) or not _scalars(value)
    if isinstance(value, tuple | list) and value:
        return all(isinstance(v, BaseModel) for v in value)
    return isinstance(value, dict)


def _scalars(value: dict[str, Any]) -> bool:
    return all(not isinstance(v, BaseModel | dict | list | tuple) for v in value.values())


def _sub_tables(name: str, value: Any, field: FieldInfo, path: tuple[str, ...]) -> Iterator[str]:
    here = (*path, name)
    yield ""
    yield from _comment(field.description or _doc(value))
    if isinstance(value, BaseModel):
        yield f"[{_dotted(here)}]"
        yield from _table(value, here)
    elif isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel):
        for number, (key, item) in enumerate(value.items()):
            if number:
                yield ""
            yield f"[{_dotted((*here, key))}]"
            yield from _table(item, (*here, key))
    elif isinstance(value, dict):
        yield f"[{_dotted(here)}]"
        yield from (f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items())
    else:
        for number, item in enumerate(value):
            if number:
                yield ""
            yield f"[[{_dotted(here)}]]"
            yield from _table(item, here)


def _key(name: str, value: Any, field: FieldInfo, path: tuple[str, ...]) -> Iterator[str]:
    yield from _comment(field.description)
    variable = "BUS_" + "__".join((*path, name)).upper()
    if _secret(value):
        yield f"# {name} = …  (a secret: set {variable} in the environment)"
    elif value is None and _of_models(field):
        model = next(a for a in field.annotation.__args__ if _is_model(a))  # type: ignore[union-attr]
        yield f"# [{_dotted((*path, name))}]  (unset by default: {', '.join(model.model_fields)})"
    elif value is None:
        yield f"# {name} = …  (unset by default)"
    elif isinstance(value, tuple | list) and not value and _of_models(field):
        yield f"# [[{_dotted((*path, name))}]]  (none by default)"
    else:
        yield f"{_toml_key(name)} = {_toml(value)}"


def _of_models(field: FieldInfo) -> bool:
    """Whether the field holds models (a list of them, or one or none)."""
    return any(_is_model(a) for a in getattr(field.annotation, "__args__", ()))


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _secret(value: Any) -> bool:
    if isinstance(value, tuple | list):
        return bool(value) and all(isinstance(v, SecretStr) for v in value)
    return isinstance(value, SecretStr)


def _doc(value: Any) -> str | None:
    if isinstance(value, BaseModel) and type(value).__doc__:
        return type(value).__doc__.strip().split("\n\n")[0]  # type: ignore[union-attr]
    return None


def _comment(text: str | None) -> Iterator[str]:
    if text:
        yield from textwrap.wrap(
            " ".join(text.split()), _WIDTH, initial_indent="# ", subsequent_indent="# "
        )


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_toml_key(part) for part in path)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml(value: Any) -> str:
    """``value`` as a TOML value (strings in JSON's escapes, which TOML's basic strings share)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.time | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)
