"""One settings object for the whole server, read from `BPP_*` environment variables.

With nothing set, every part uses its embedded default: a SQLite file and an embedded Valkey
in `BPP_DATA_DIR`, an in-process EVM. Production refuses to start with default secrets.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105 - the refused default
DEFAULT_KEYSTORE_PASSPHRASE = "dev-keystore-passphrase"  # noqa: S105 - the refused default
DEFAULT_PORT = 8000
EMBEDDED_CHAIN_ID = 131277  # eth-tester's default chain id


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class InsecureSettingsError(ValueError):
    """Production was asked to run with a default secret."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BPP_", extra="ignore")

    data_dir: Path = Path(".bpp")
    database_url: str | None = None
    redis_url: str | None = None
    chain_rpc_url: str | None = None
    chain_id: int | None = None
    # The city's IssuerRegistry root when the city holds its key outside the platform
    # (production); unset, the platform keeps a `city-root` account in its chain key store.
    chain_city_root: str | None = None
    public_base_url: str | None = None
    environment: Environment = Environment.DEVELOPMENT
    keystore_passphrase: SecretStr = SecretStr(DEFAULT_KEYSTORE_PASSPHRASE)
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)

    # How long status changes wait to be batched into one on-chain publish (seconds).
    status_publish_interval_s: float = Field(default=2.0, ge=0)
    # Blocks a transaction must be buried under before the outbox calls it confirmed.
    chain_confirmations: int = Field(default=0, ge=0)
    # Size of each Bitstring status list (entries); the spec asks for at least 131,072.
    status_list_size: int = Field(default=131_072, ge=131_072)

    # Drivers' sessions (backend.auth): lifetimes of access and refresh tokens, of a
    # role-credential session and of a presentation challenge (seconds).
    access_token_ttl_s: int = Field(default=900, ge=30)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    role_session_ttl_s: int = Field(default=600, ge=30)
    challenge_ttl_s: int = Field(default=300, ge=10)
    # An external OpenID Connect issuer whose access tokens are trusted for drivers (unset:
    # none). The JWKS URL defaults to `<issuer>/.well-known/jwks.json`.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks_cache_s: int = Field(default=600, ge=0)
    # DIDs whose role credentials (AccreditedInspectorCredential, LegitimateInterestCredential)
    # are trusted: the city's. A JSON list, e.g. '["did:web:city.example"]'.
    role_credential_issuers: list[str] = Field(default_factory=list)

    # Telemetry (backend.telemetry): raw gateway samples are kept this many days, then folded
    # into hourly aggregates kept for the battery's life; the compaction job's period
    # (seconds, 0 = no background job: `bpp telemetry compact` only) and the largest batch.
    telemetry_raw_days: int = Field(default=30, ge=1)
    telemetry_compact_interval_s: float = Field(default=3600.0, ge=0)
    telemetry_max_batch: int = Field(default=1000, ge=1)

    # The public API's guard rails (graphql_schema/app.py): the largest cost of one operation
    # (graphql_schema/cost.py), the longest an operation may run, the largest request body.
    graphql_max_cost: int = Field(default=5000, ge=10)
    graphql_timeout_s: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Persisted queries: only registered documents run (`bpp graphql register-queries`).
    # Unset: on in production, off in development.
    graphql_allowlist: bool | None = None
    # Token-bucket limits (requests per second) per principal, by role (organisations) or
    # kind (`anonymous`, `driver`, `device`, `role-session`), and per client IP; a bucket
    # holds `rate_limit_burst_s` seconds of requests. A JSON object, e.g. '{"driver": 5}'.
    rate_limits: dict[str, float] = Field(
        default_factory=lambda: {
            "anonymous": 20.0,
            "driver": 10.0,
            "device": 20.0,
            "role-session": 20.0,
            "platform": 500.0,
            "authority": 50.0,
            "default": 50.0,
        }
    )
    rate_limit_ip_per_s: float = Field(default=100.0, gt=0)
    rate_limit_burst_s: float = Field(default=2.0, gt=0)
    # Take the client IP from X-Forwarded-For (only behind a proxy that sets it).
    trust_forwarded_for: bool = False
    # Origins allowed to call the API from a browser (CORS); none by default.
    cors_origins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            defaults = []
            if self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
                defaults.append("BPP_SECRET_KEY")
            if self.keystore_passphrase.get_secret_value() == DEFAULT_KEYSTORE_PASSPHRASE:
                defaults.append("BPP_KEYSTORE_PASSPHRASE")
            if defaults:
                raise InsecureSettingsError(
                    f"production refuses to start with default secrets: set {', '.join(defaults)}"
                )
        return self

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    @property
    def enforces_allowlist(self) -> bool:
        if self.graphql_allowlist is not None:
            return self.graphql_allowlist
        return self.environment is Environment.PRODUCTION

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.resolved_data_dir / 'bpp.sqlite3'}"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def uses_embedded_chain(self) -> bool:
        return not self.chain_rpc_url

    def public_base_url_for(self, port: int = DEFAULT_PORT) -> str:
        """The platform's public URL: set, recorded at the first start, or derived from the port.

        It fixes the platform's `did:web` and every URL put into a credential, so once chosen it
        is written to the data directory and reused on every later start.
        """
        record = self.resolved_data_dir / "public_base_url.json"
        if self.public_base_url:
            url = self.public_base_url.rstrip("/")
        elif record.exists():
            url = str(json.loads(record.read_text())["public_base_url"])
        else:
            url = f"http://127.0.0.1:{port}"
        self.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        if not record.exists() or json.loads(record.read_text()).get("public_base_url") != url:
            record.write_text(json.dumps({"public_base_url": url}) + "\n")
        return url

    def redacted(self) -> dict[str, Any]:
        """Settings safe to log: secrets masked."""
        return self.model_dump(mode="json", exclude={"keystore_passphrase", "secret_key"})


def normalise_database_url(url: str) -> str:
    """Pick the async driver for a plain `postgresql://` or `sqlite://` URL."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    return url
