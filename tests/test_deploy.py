"""The deployment files in deploy/ agree with the bus: the compose file runs PostgreSQL, Redis,
two APIs, two workers (the simulators on request) with settings the bus knows and real secrets;
the systemd units run real commands; the image runs the ``bus`` command.

Building the image takes minutes and a Docker daemon, so it is not part of the suite:
``docker build -f deploy/Dockerfile -t bus:latest .`` (README, Running it in production).
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import BaseModel, SecretStr
from typer.testing import CliRunner

from bus.cli import _CHILD_EXIT_MARGIN, app
from bus.configuration import load, unknown_variables
from bus.queues.worker import stop_grace
from bus.settings import DEV_JOURNAL_KEY, DEV_KEYS, Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def env_file(path: Path) -> dict[str, str]:
    """The ``NAME=value`` lines of an env file (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {name: value for name, value in (p for p in pairs if len(p) == 2) if name[0] != "#"}


def commands(services: dict[str, Any], name: str) -> list[str]:
    """The services whose command starts with ``name`` (``serve``, ``worker``, ``db``)."""
    return sorted(s for s, spec in services.items() if spec.get("command", [None])[0] == name)


def test_compose_runs_the_journal_the_queue_two_apis_and_two_workers() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert "noeviction" in services["redis"]["command"]
    assert commands(services, "serve") == ["api-1", "api-2"]
    assert commands(services, "worker") == ["worker-1", "worker-2"]
    assert [services[s]["command"] for s in commands(services, "db")] == [["db", "upgrade"]]
    for name in ["api-1", "api-2", "worker-1", "worker-2"]:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert "profiles" not in services[name]
    assert services["simulators"]["profiles"] == ["simulators"]
    assert services["simulators"]["command"][:2] == ["simulate", "all"]


def test_compose_commands_are_commands_of_the_bus() -> None:
    services = compose()["services"]
    for name in commands(services, "serve") + commands(services, "worker") + ["migrate"]:
        done = CliRunner().invoke(app, [*services[name]["command"], "--help"])
        assert done.exit_code == 0, (name, done.output)


def test_compose_sets_only_settings_the_bus_knows() -> None:
    services = compose()["services"]
    for name in ["api-1", "worker-1", "migrate"]:
        environment = services[name]["environment"]
        assert unknown_variables(Settings, environment) == [], name
        assert environment["BUS_CONFIG"] == "/etc/bus/bus.toml"
        assert any(v.endswith(":/etc/bus/bus.toml:ro") for v in services[name]["volumes"])
        assert services[name]["env_file"] == [{"path": ".env", "required": True}]
    for example in [".env.example", "bus.env.example"]:
        assert unknown_variables(Settings, env_file(DEPLOY / example)) == [], example


def test_compose_refuses_to_run_without_the_journals_password() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert "${POSTGRES_PASSWORD:?" in text
    assert "POSTGRES_PASSWORD" in env_file(DEPLOY / ".env.example")


@pytest.mark.parametrize("example", [".env.example", "bus.env.example"])
def test_the_env_examples_replace_every_shipped_secret_of_the_deployment(
    example: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = Settings()
    variables = env_file(DEPLOY / example)
    # The placeholder key is not a key: a real one stands in for what the operator makes.
    variables["BUS_JOURNAL_ENCRYPTION_KEYS"] = f'["{Fernet.generate_key().decode()}"]'
    variables.setdefault("BUS_DATABASE_URL", "postgresql://bus:pw@postgres:5432/bus")
    # As deployed: the sample configuration (a copy of it) beside the secrets.
    variables["BUS_CONFIG"] = str(DEPLOY / "bus.example.toml")
    for name, value in variables.items():
        if name.startswith("BUS_"):
            monkeypatch.setenv(name, value)
    settings = load(Settings)
    assert not set(DEV_KEYS.values()) & {
        c.key.get_secret_value() for c in settings.clients.values()
    }
    assert set(settings.clients) == set(shipped.clients)
    assert DEV_JOURNAL_KEY not in {k.get_secret_value() for k in settings.journal_encryption_keys}
    for section in (settings.erp, settings.crm, "storefront"):
        still = same_secrets(getattr(settings, section), getattr(shipped, section))
        assert still == [], f"{example} leaves {section}'s {still} at the shipped values"


def same_secrets(section: BaseModel, shipped: BaseModel) -> list[str]:
    return [
        name
        for name, value in section
        if isinstance(value, SecretStr)
        and value.get_secret_value() == getattr(shipped, name).get_secret_value()
    ]


def test_workers_are_given_time_to_finish_their_attempts() -> None:
    needed = stop_grace(Settings()) + _CHILD_EXIT_MARGIN
    grace = compose()["x-worker"]["stop_grace_period"]
    assert float(grace.removesuffix("s")) >= needed
    unit = unit_file("bus-worker@.service")
    assert float(unit["Service"]["TimeoutStopSec"]) >= needed


def unit_file(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


@pytest.mark.parametrize(
    ("unit", "command"),
    [
        ("bus-migrate.service", ["db", "upgrade"]),
        ("bus-api@.service", ["serve", "--port", "%i"]),
        ("bus-worker@.service", ["worker"]),
    ],
)
def test_units_run_commands_of_the_bus_with_the_config_and_the_secrets(
    unit: str, command: list[str]
) -> None:
    service = unit_file(unit)["Service"]
    exec_start = service["ExecStart"].split()
    assert exec_start == ["/opt/bus/bin/bus", *command]
    args = [a.replace("%i", "8081") for a in command]
    assert CliRunner().invoke(app, [*args, "--help"]).exit_code == 0
    assert service["Environment"] == "BUS_CONFIG=/etc/bus/bus.toml"
    assert service["EnvironmentFile"] == "/etc/bus/bus.env"
    assert service["User"] == "bus"
    if unit != "bus-migrate.service":
        # Exit 2 is a configuration mistake: restarting would not mend it.
        assert service["RestartPreventExitStatus"] == "2"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    bus = Path(sys.executable).with_name("bus")
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/opt/bus/bin/bus", str(bus))
        (tmp_path / unit.name.replace("@.", "@8081.")).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *sorted(map(str, tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys, bad values and missing commands are reported on stderr.
    assert (done.returncode, done.stderr) == (0, "")


def test_the_image_installs_the_bus_and_runs_its_command() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    pyproject = (DEPLOY.parent / "pyproject.toml").read_text()
    python = re.search(r'requires-python = ">=(\d+\.\d+)"', pyproject)
    assert python and f"FROM python:{python.group(1)}-slim" in text
    for part in ["bus", "schemas", "simulators"]:
        assert f"COPY {part} ./{part}" in text
    assert 'ENTRYPOINT ["bus"]' in text
    assert re.search(r"^USER bus$", text, re.M)


@pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="needs docker compose",
)
def test_docker_compose_validates_the_file(tmp_path: Path) -> None:
    for name in ["compose.yaml", "bus.example.toml"]:
        shutil.copy(DEPLOY / name, tmp_path / name)
    shutil.copy(DEPLOY / ".env.example", tmp_path / ".env")
    shutil.copy(DEPLOY / "bus.example.toml", tmp_path / "bus.toml")
    done = subprocess.run(
        ["docker", "compose", "--profile", "simulators", "config", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
