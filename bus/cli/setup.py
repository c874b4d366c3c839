"""Setting the bus up: ``db upgrade``, ``config sample``/``check`` and ``secrets reencrypt``."""

from __future__ import annotations

import asyncio
import logging

import typer
from alembic.util.exc import CommandError

from bus.cli.common import (
    config_app,
    console,
    db_app,
    first_line,
    load_settings,
    refuse_start,
    require_own_secrets,
    secrets_app,
    setup_logging,
    when_journal_answers,
    with_engine,
)
from bus.migrate import schema_state, upgrade_reporting


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
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
    typer.echo(done.describe())


@config_app.command("sample")
def config_sample() -> None:
    """Print a configuration file with every setting at its default, described (secrets as
    comments naming their variables): deploy/bus.example.toml is this."""
    from bus.config_sample import sample

    typer.echo(sample(), nl=False)


@config_app.command("check")
def config_check() -> None:
    """Read the configuration (BUS_CONFIG and BUS_* variables) and say whether bus serve can
    start on it: exit 0 and a summary, or exit 2 and a line per mistake."""
    import os

    settings = load_settings()
    require_own_secrets(settings, "bus serve", edge=True)
    source = os.environ.get("BUS_CONFIG") or "no BUS_CONFIG file"
    queue = "Redis" if settings.redis_url else "embedded"
    journal = "PostgreSQL" if settings.is_postgres else "SQLite"
    typer.echo(
        f"configuration ok ({source}): ERP {settings.erp}, CRM {settings.crm}, journal {journal},"
        f" queue {queue}, listening on {settings.host}:{settings.port}"
    )


@secrets_app.command("reencrypt")
def secrets_reencrypt() -> None:
    """Encrypt every secret the journal keeps under the first journal encryption key (after a
    new key was put first; then the old one can be dropped)."""
    from bus.journal.credentials import reencrypt
    from bus.sealing import Sealer

    sealer = Sealer.from_settings(load_settings())
    counts = with_engine(lambda engine: reencrypt(engine, sealer))
    console.print(
        f"re-encrypted {counts['credentials']} credentials and the sealed values of"
        f" {counts['results']} message results under the first key"
    )
