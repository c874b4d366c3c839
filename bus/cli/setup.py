"""Setting the bus up: ``db upgrade``, ``config sample``/``check`` and ``secrets reencrypt``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import typer
from alembic.util.exc import CommandError
from pydantic import BaseModel, SecretStr
from pydantic_core import to_jsonable_python

from bus.cli.common import (
    JsonOption,
    config_app,
    console,
    db_app,
    first_line,
    load_settings,
    print_json,
    read_settings,
    refuse_start,
    require_own_secrets,
    secrets_app,
    setup_logging,
    shipped_refusal,
    when_journal_answers,
    with_engine,
)
from bus.configuration import ConfigurationError
from bus.migrate import schema_state, upgrade_reporting
from bus.settings import Settings


@db_app.command("upgrade")
def db_upgrade(revision: str = "head", as_json: JsonOption = False) -> None:
    """Bring the journal's schema up to date, saying from which revision to which."""
    setup_logging()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the line printed says what was done
    settings = load_settings()
    state = when_journal_answers(settings, lambda: asyncio.run(schema_state(settings.database_url)))
    if not state.known:
        refuse_start(f"bus db upgrade: {state.unknown()}")
    try:
        done = upgrade_reporting(settings.database_url, revision)
    except CommandError as error:  # a revision this bus does not have
        refuse_start(f"bus db upgrade: {first_line(error).removeprefix('CommandError: ')}")
    if as_json:
        changed = done.before != done.after
        print_json({"from": done.before, "to": done.after, "head": done.head, "changed": changed})
        return
    typer.echo(done.describe())


@config_app.command("sample")
def config_sample(as_json: JsonOption = False) -> None:
    """Print a configuration file with every setting at its default, described (secrets as
    comments naming their variables): deploy/bus.example.toml is this. With --json: the
    defaults as the file's keys nest them, each secret null and named with its variable."""
    from bus.config_sample import sample

    if as_json:
        secrets: dict[str, str] = {}
        defaults = _defaults(Settings(), (), secrets)
        # not print_json: its redaction would hide the defaults of fields named as secrets
        typer.echo(json.dumps({"settings": defaults, "secrets": secrets}, indent=2))
        return
    typer.echo(sample(), nl=False)


def _defaults(value: Any, path: tuple[str, ...], secrets: dict[str, str]) -> Any:
    """``value`` (a setting at ``path``) as JSON; a secret is ``None``, and its dotted name and
    variable go into ``secrets``: the shipped values are public, and no copy should carry them."""
    if isinstance(value, SecretStr) or (
        isinstance(value, tuple | list) and value and all(isinstance(v, SecretStr) for v in value)
    ):
        secrets[".".join(path)] = "BUS_" + "__".join(path).upper()
        return None
    if isinstance(value, BaseModel):
        return {
            name: _defaults(getattr(value, name), (*path, name), secrets)
            for name in type(value).model_fields
        }
    if isinstance(value, dict):
        return {str(k): _defaults(v, (*path, str(k)), secrets) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_defaults(v, path, secrets) for v in value]
    return to_jsonable_python(value)


@config_app.command("check")
def config_check(as_json: JsonOption = False) -> None:
    """Read the configuration (BUS_CONFIG and BUS_* variables) and say whether bus serve can
    start on it: exit 0 and a summary, or exit 2 and a line per mistake (with --json: the file,
    the problems and the summary, exit 0 or 2 alike)."""
    if as_json:
        _check_json()
        return
    settings = load_settings()
    require_own_secrets(settings, "bus serve", edge=True)
    source = os.environ.get("BUS_CONFIG") or "no BUS_CONFIG file"
    queue = "Redis" if settings.redis_url else "embedded"
    journal = "PostgreSQL" if settings.is_postgres else "SQLite"
    typer.echo(
        f"configuration ok ({source}): ERP {settings.erp}, CRM {settings.crm}, journal {journal},"
        f" queue {queue}, listening on {settings.host}:{settings.port}"
    )


def _check_json() -> None:
    """``bus config check --json``: every problem in the object rather than on standard error,
    the exit status as without ``--json``."""
    summary: dict[str, Any] | None = None
    try:
        settings = read_settings()
    except ConfigurationError as error:
        problems = list(error.problems)
    else:
        refusal = shipped_refusal(settings, "bus serve", edge=True)
        problems = [refusal] if refusal else []
        summary = {
            "erp": settings.erp,
            "crm": settings.crm,
            "journal": "PostgreSQL" if settings.is_postgres else "SQLite",
            "queue": "Redis" if settings.redis_url else "embedded",
            "listen": f"{settings.host}:{settings.port}",
            "development": settings.development,
        }
    print_json(
        {
            "ok": not problems,
            "config": os.environ.get("BUS_CONFIG") or None,
            "problems": problems,
            "settings": summary,
        }
    )
    if problems:
        raise typer.Exit(2)


@secrets_app.command("reencrypt")
def secrets_reencrypt(as_json: JsonOption = False) -> None:
    """Encrypt every secret the journal keeps under the first journal encryption key (after a
    new key was put first; then the old one can be dropped)."""
    from bus.journal.credentials import reencrypt
    from bus.sealing import Sealer

    sealer = Sealer.from_settings(load_settings())
    counts = with_engine(lambda engine: reencrypt(engine, sealer))
    if as_json:
        print_json(counts)
        return
    console.print(
        f"re-encrypted {counts['credentials']} credentials and the sealed values of"
        f" {counts['results']} message results under the first key"
    )
