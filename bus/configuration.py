"""What is wrong with a configuration, told in one line per mistake.

The settings are read from ``BUS_*`` environment variables and a TOML file. pydantic-settings
reads only the variables it knows, so a misspelt one (``BUS_NAVISON__URL``) would be ignored
and the bus would start on a default: every ``BUS_*`` variable must name a setting. Validation
errors become lines naming the setting (and the variable that sets it) and what is wrong.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, SettingsError

#: Variables with the settings' prefix that are not settings: read by the settings' sources.
NOT_SETTINGS = frozenset({"BUS_CONFIG"})

S = TypeVar("S", bound=BaseSettings)


class ConfigurationError(Exception):
    """A configuration the bus cannot start on; ``problems`` has one line per mistake."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def load(settings_cls: type[S], **values: Any) -> S:
    """``settings_cls(**values)``, every mistake of the configuration a ``ConfigurationError``."""
    try:
        return settings_cls(**values)
    except ValidationError as error:
        raise ConfigurationError(describe(error, settings_cls)) from None
    except SettingsError as error:
        raise ConfigurationError([_unparsed(error, settings_cls)]) from None


def _unparsed(error: SettingsError, settings_cls: type[BaseSettings]) -> str:
    """The line for a variable that should hold JSON (a section, a list) and does not parse."""
    field = re.search(r'field "([^"]+)"', str(error))
    if field is None:
        return str(error).splitlines()[0]
    name = field.group(1)
    cause = str(error.__cause__ or error).splitlines()[0]
    return f"{name} ({_variable(settings_cls, (name,))}): is not valid JSON ({cause})"


def describe(error: ValidationError, settings_cls: type[BaseSettings]) -> list[str]:
    """One line per error: the setting's dotted name, the variable that sets it, what is wrong.

    The value itself is never shown: it may be a secret.
    """
    lines = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        location = item["loc"]
        name = ".".join(str(part) for part in location) or "settings"
        variable = _variable(settings_cls, location)
        where = f"{name} ({variable})" if variable else name
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: is not a setting{_suggestion(settings_cls, location)}")
        else:
            lines.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return lines


def unknown_variables(settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> list[str]:
    """A line for each variable with the settings' prefix that names no setting."""
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    delimiter = str(settings_cls.model_config.get("env_nested_delimiter") or "__")
    problems = []
    for name in sorted(environ):
        if not prefix or not name.upper().startswith(prefix.upper()) or name in NOT_SETTINGS:
            continue
        parts = name[len(prefix) :].lower().split(delimiter)
        unknown = _unknown_part(settings_cls, parts)
        if unknown is None:
            continue
        index, known = unknown
        hint = difflib.get_close_matches(parts[index], known, n=1)
        meant = ""
        if hint:
            fixed = [*parts[:index], hint[0], *parts[index + 1 :]]
            meant = f"; did you mean {prefix}{delimiter.join(fixed).upper()}?"
        where = f"no setting {parts[index]!r}" if parts[index] else "an empty part"
        problems.append(f"{name} is not a setting ({where}{meant})")
    return problems


def _unknown_part(annotation: Any, parts: list[str]) -> tuple[int, list[str]] | None:
    """Where ``parts`` (a variable's lower-cased path) stops naming a setting of ``annotation``:
    the index of the first unknown part and the names known there; ``None`` if all are known."""
    if not parts:
        return None
    choices = _choices(annotation)
    if choices is None:
        # A leaf (a number, a list given as JSON) has no parts below it.
        return 0, []
    if isinstance(choices, str):
        below = _unknown_part(_dict_value(annotation), parts[1:])
        return None if below is None else (below[0] + 1, below[1])
    if parts[0] not in choices:
        return 0, sorted(choices)
    below = _unknown_part(choices[parts[0]], parts[1:])
    return None if below is None else (below[0] + 1, below[1])


def _choices(annotation: Any) -> dict[str, Any] | str | None:
    """The names a part may take below ``annotation``: its fields (a model), ``"any"`` (a dict's
    keys), or ``None`` (a leaf)."""
    annotation = _bare(annotation)
    if get_origin(annotation) is dict:
        return "any"
    fields: dict[str, Any] = {}
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            fields.update({n.lower(): f.annotation for n, f in member.model_fields.items()})
    return fields or None


def _dict_value(annotation: Any) -> Any:
    args = get_args(_bare(annotation))
    return args[1] if len(args) == 2 else Any


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(_bare(arg) for arg in get_args(annotation))
    return (annotation,)


def _variable(settings_cls: type[BaseSettings], location: tuple[int | str, ...]) -> str | None:
    """The environment variable that sets ``location``; ``None`` inside a list."""
    if not location or not all(isinstance(part, str) for part in location):
        return None
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    delimiter = str(settings_cls.model_config.get("env_nested_delimiter") or "__")
    return prefix + delimiter.join(str(part) for part in location).upper()


def _suggestion(settings_cls: type[BaseSettings], location: tuple[int | str, ...]) -> str:
    """``; did you mean 'x'?`` for a misspelt key, from the names known beside it."""
    parts = [str(part).lower() for part in location]
    unknown = _unknown_part(settings_cls, parts)
    if unknown is None or not unknown[1]:
        return ""
    hint = difflib.get_close_matches(parts[unknown[0]], unknown[1], n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""
