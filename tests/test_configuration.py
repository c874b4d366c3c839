"""The configuration is read strictly: unknown variables refused, URLs checked, every mistake a
line naming its setting; the sample configuration file is in step with the settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from bus.config_sample import sample
from bus.configuration import ConfigurationError, load, unknown_variables
from bus.settings import Settings
from tests.e2e.conftest import FAST, production_env
from tests.support.processes import Stack

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "deploy" / "bus.example.toml"


def problems(**values: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigurationError) as raised:
        load(Settings, **values)
    return raised.value.problems


def secret_defaults(model: BaseModel, path: tuple[str, ...] = ()) -> dict[str, str]:
    """Every secret of ``model`` as the ``BUS_*`` variable that sets it, with its value."""
    found: dict[str, str] = {}
    for name, value in model:
        here = (*path, name)
        variable = "BUS_" + "__".join(here).upper()
        if isinstance(value, SecretStr):
            found[variable] = value.get_secret_value()
        elif isinstance(value, tuple) and value and isinstance(value[0], SecretStr):
            found[variable] = "[" + ", ".join(f'"{v.get_secret_value()}"' for v in value) + "]"
        elif isinstance(value, BaseModel):
            found |= secret_defaults(value, here)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    found |= secret_defaults(item, (*here, key))
    return found


def leaf_names(model: BaseModel, path: tuple[str, ...] = ()) -> set[str]:
    """The dotted name of every setting below ``model``, as the sample must name it."""
    names: set[str] = set()
    for name, value in model:
        here = (*path, name)
        if isinstance(value, BaseModel):
            names |= leaf_names(value, here)
        elif (
            isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel)
        ):
            for key, item in value.items():
                names |= leaf_names(item, (*here, key))
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            for item in value:
                names |= leaf_names(item, here)
        else:
            names.add(".".join(here))
    return names


def test_the_sample_is_what_the_settings_write() -> None:
    assert SAMPLE.read_text() == sample(), (
        "deploy/bus.example.toml is out of step with bus/settings.py:"
        " run `bus config sample > deploy/bus.example.toml`"
    )


def test_the_sample_names_every_setting() -> None:
    assert leaf_names(Settings()) - named_in(SAMPLE.read_text()) == set()


def named_in(text: str) -> set[str]:
    """The dotted names a TOML file gives a value to, or names in a comment (``# key = …``,
    ``# [table]``), as the sample does for secrets and what is unset by default."""
    table: tuple[str, ...] = ()
    names: set[str] = set()
    for line in text.splitlines():
        header = re.match(r"^(# )?\[\[?([^\]]+)\]\]?", line)
        key = re.match(r'^(# )?("[^"]+"|[A-Za-z0-9_-]+) = ', line)
        if header:
            dotted = header.group(2)
            names.add(dotted)
            if not header.group(1):
                table = tuple(dotted.split("."))
        elif key:
            names.add(".".join((*table, key.group(2).strip('"'))))
    return names


def test_the_sample_with_the_secrets_in_the_environment_is_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    monkeypatch.setenv("BUS_CONFIG", str(SAMPLE))
    for variable, value in secret_defaults(defaults).items():
        monkeypatch.setenv(variable, value)
    assert load(Settings) == defaults


def test_the_sample_alone_asks_for_the_secrets_by_their_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BUS_CONFIG", str(SAMPLE))
    found = problems()
    assert "clients.storefront.key (BUS_CLIENTS__STOREFRONT__KEY): Field required" in found


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        (
            "BUS_NAVISON__URL",
            "BUS_NAVISON__URL is not a setting (no setting 'navison';"
            " did you mean BUS_NAVISION__URL?)",
        ),
        (
            "BUS_NAVISION__URLL",
            "BUS_NAVISION__URLL is not a setting (no setting 'urll';"
            " did you mean BUS_NAVISION__URL?)",
        ),
        (
            "BUS_NAVISION__RETRY__MAX_ATTEMPT",
            "BUS_NAVISION__RETRY__MAX_ATTEMPT is not a setting (no setting 'max_attempt';"
            " did you mean BUS_NAVISION__RETRY__MAX_ATTEMPTS?)",
        ),
        ("BUS_PORT__NUMBER", "BUS_PORT__NUMBER is not a setting (no setting 'number')"),
        ("bus_prot", "bus_prot is not a setting (no setting 'prot'; did you mean BUS_PORT?)"),
    ],
)
def test_a_variable_naming_no_setting_is_refused(variable: str, expected: str) -> None:
    assert unknown_variables(Settings, {variable: "x", "PATH": "/bin"}) == [expected]


def test_variables_of_dict_settings_and_the_config_file_are_settings() -> None:
    environ = {
        "BUS_CONFIG": "/etc/bus/bus.toml",
        "BUS_CLIENTS__WAREHOUSE__KEY": "k",
        "BUS_DEADLINES__INVOICE.REQUEST": "60",
        "BUS_BITRIX24__OAUTH__CLIENT_ID": "app",
        "BUS_ORDER_RULES__PACK_SIZES": '{"1100": 12}',
    }
    assert unknown_variables(Settings, environ) == []


def test_every_variable_the_test_stacks_and_the_bench_set_is_a_setting(tmp_path: Path) -> None:
    stack = Stack(production_env("postgresql://bus@db/bus", FAST), tmp_path)
    bench = {
        "BUS_PRICES__CACHE_TTL": "0",
        "BUS_PRICES__BUDGET": "2.0",
    }
    assert unknown_variables(Settings, {**stack.env, **bench}) == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"navision": {"url": "nav:7048/DynamicsNAV110/ODataV4"}},
            "navision.url (BUS_NAVISION__URL): is not an http:// or https:// URL with a host",
        ),
        (
            {"storefront": {"url": "/rpc"}},
            "storefront.url (BUS_STOREFRONT__URL): is not an http:// or https:// URL with a host",
        ),
        (
            {"bitrix24": {"webhook_url": "portal/rest/1/code"}},
            "bitrix24.webhook_url (BUS_BITRIX24__WEBHOOK_URL): is not an http:// or https:// URL"
            " with a host",
        ),
        (
            {"redis_url": "localhost:6379"},
            "redis_url (BUS_REDIS_URL): is not a Redis URL: redis://host:6379/0"
            " (rediss:// with TLS)",
        ),
        (
            {"database_url": "mysql://bus:secret-pw@db/bus"},
            "database_url (BUS_DATABASE_URL): is not a journal URL: postgresql://user:password@host/db"
            " (PostgreSQL) or sqlite:///path/bus.db (SQLite)",
        ),
    ],
)
def test_urls_are_checked_and_their_values_never_shown(
    values: dict[str, Any], expected: str
) -> None:
    assert problems(**values) == (expected,)


def test_a_url_is_kept_as_it_was_given() -> None:
    settings = load(Settings, creatio={"url": "http://crm.example:7049"})
    assert settings.creatio.url == "http://crm.example:7049"  # no slash added: paths follow it


def test_every_mistake_is_a_line_of_its_own() -> None:
    found = problems(port="abc", navision={"url": "x", "retry": {"max_attempts": 0}}, colour=1)
    assert found == (
        "port (BUS_PORT): Input should be a valid integer, unable to parse string as an integer",
        "navision.retry.max_attempts (BUS_NAVISION__RETRY__MAX_ATTEMPTS): Input should be greater"
        " than or equal to 1",
        "navision.url (BUS_NAVISION__URL): is not an http:// or https:// URL with a host",
        "colour (BUS_COLOUR): is not a setting",
    )
