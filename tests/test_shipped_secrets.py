"""Which settings still hold a secret the bus ships with (``Settings.shipped_secrets``).

The production refusal of ``bus serve`` and ``bus worker`` names exactly these
(tests/e2e/test_production_defaults.py runs the processes).
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet

from bus.settings import DEV_KEYS, Settings

#: Every secret of a NAV + Bitrix24 deployment, set to values of its own.
OWN: dict[str, Any] = {
    "clients": {name: {"key": f"own-{name}-key", "methods": ["rpc.discover"]} for name in DEV_KEYS},
    "navision": {"password": "own-nav-password"},
    "bitrix24": {
        "webhook_url": "https://portal.example/rest/1/own-code",
        "application_token": "own-application-token",
    },
    "storefront": {"token": "own-storefront-token"},
    "journal_encryption_keys": [Fernet.generate_key().decode()],
}


def test_a_deployment_that_set_every_secret_has_none_shipped() -> None:
    assert Settings(**OWN).shipped_secrets() == []


def test_one_client_left_with_its_shipped_key_is_named() -> None:
    clients = {**OWN["clients"], "ops": {"key": DEV_KEYS["ops"], "methods": ["message.get"]}}
    assert Settings(**{**OWN, "clients": clients}).shipped_secrets() == ["clients.ops.key"]


def test_the_webhook_does_not_count_with_oauth() -> None:
    oauth = {
        "portal_url": "https://portal.example",
        "client_id": "local.1",
        "client_secret": "own-client-secret",
        "refresh_token": "own-refresh-token",
    }
    bitrix24 = {"application_token": "own-application-token", "oauth": oauth}
    assert Settings(**{**OWN, "bitrix24": bitrix24}).shipped_secrets() == []
    without_oauth = {"application_token": "own-application-token"}
    shipped = Settings(**{**OWN, "bitrix24": without_oauth}).shipped_secrets()
    assert shipped == ["bitrix24.webhook_url"]


def test_the_other_erp_and_crm_do_not_count_but_the_deployments_do() -> None:
    settings = Settings(**{**OWN, "erp": "onec", "crm": "creatio"})
    assert settings.shipped_secrets() == ["onec.password", "creatio.password"]


def test_a_worker_is_asked_only_for_the_secrets_it_uses() -> None:
    dev_edge = {**OWN, "clients": Settings().clients, "bitrix24": {"webhook_url": "https://p/x"}}
    settings = Settings(**dev_edge)
    assert settings.shipped_secrets(edge=False) == []
    assert "bitrix24.application_token" in settings.shipped_secrets(edge=True)
    assert "clients.ops.key" in settings.shipped_secrets(edge=True)
