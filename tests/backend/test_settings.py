from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.settings import Environment, Settings, normalise_database_url


def test_embedded_defaults_with_nothing_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "CHAIN_RPC_URL", "PUBLIC_BASE_URL", "ENVIRONMENT"):
        monkeypatch.delenv(f"BPP_{name}", raising=False)
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'bpp.sqlite3'}"
    assert settings.uses_embedded_redis
    assert settings.uses_embedded_chain
    assert settings.environment is Environment.DEVELOPMENT


def test_settings_come_from_bpp_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BPP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BPP_DATABASE_URL", "postgresql://u@db:5432/bpp")
    monkeypatch.setenv("BPP_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("BPP_CHAIN_RPC_URL", "http://node:8545")
    monkeypatch.setenv("BPP_CHAIN_ID", "31337")
    settings = Settings()
    assert settings.resolved_data_dir == tmp_path.resolve()
    assert settings.effective_database_url == "postgresql+asyncpg://u@db:5432/bpp"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.chain_rpc_url == "http://node:8545"
    assert settings.chain_id == 31337


def test_production_refuses_default_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="BPP_SECRET_KEY"):
        Settings(
            data_dir=tmp_path, environment=Environment.PRODUCTION, keystore_passphrase="x" * 20
        )
    with pytest.raises(ValidationError, match="BPP_KEYSTORE_PASSPHRASE"):
        Settings(data_dir=tmp_path, environment=Environment.PRODUCTION, secret_key="y" * 40)
    accepted = Settings(
        data_dir=tmp_path,
        environment=Environment.PRODUCTION,
        secret_key="y" * 40,
        keystore_passphrase="x" * 20,
    )
    assert not accepted.is_development


def test_public_base_url_is_recorded_at_first_start_and_reused(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).public_base_url_for(9123)
    assert first == "http://127.0.0.1:9123"
    # A later start on another port keeps the recorded URL: DIDs and credential URLs stay.
    assert Settings(data_dir=tmp_path).public_base_url_for(8000) == first
    explicit = Settings(
        data_dir=tmp_path, public_base_url="https://passport.example/"
    ).public_base_url_for(8000)
    assert explicit == "https://passport.example"


def test_plain_database_urls_get_async_drivers() -> None:
    assert normalise_database_url("postgres://a@b/c") == "postgresql+asyncpg://a@b/c"
    assert normalise_database_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
