"""The README's promises that code can check: the documented error codes match the error tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bus.errors import CALL_ERRORS
from bus.settings import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_call_error_is_documented_with_its_code_and_message() -> None:
    for error in CALL_ERRORS:
        assert f"| {error.code} | {error.message} | {error.__name__} |" in README, error.__name__


def test_the_quick_start_has_the_two_commands() -> None:
    assert "pip install -e . && .venv/bin/bus up" in README
    assert "pip install -e '.[dev]' && scripts/test" in README
    assert (
        "pip install -e '.[dev]' && scripts/test"
        in (Path(__file__).parents[1] / ".ci" / "run").read_text()
    )


def test_the_configuration_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = re.search(r"```toml\n(.*?)```", README, re.S)
    assert example is not None
    config = tmp_path / "bus.toml"
    config.write_text(example.group(1).replace("…", "secret"))
    monkeypatch.setenv("BUS_CONFIG", str(config))
    settings = Settings()
    assert settings.navision.url == "http://nav:7048/DynamicsNAV110/ODataV4"
    assert settings.clients["storefront"].may_call("order.submit")
    assert not settings.clients["storefront"].may_call("account.create")
