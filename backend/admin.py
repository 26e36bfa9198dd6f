"""What admin commands need from a data directory, without starting the whole runtime.

`bpp apikey`, `bpp keys` and `bpp credentials issue` work on the database and the key stores
directly (no Valkey, no chain connection): chain writes they cause are rows in the outbox that
the server sends when it runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from backend.chain.accounts import ChainAccountStore
from backend.issuance.service import IssuanceService
from backend.kit.db import Database
from backend.kit.migrations import upgrade_database
from backend.platform import PlatformIdentity
from backend.settings import DEFAULT_PORT, Settings


@dataclass
class Admin:
    settings: Settings
    db: Database
    platform: PlatformIdentity
    issuance: IssuanceService


@asynccontextmanager
async def open_admin(settings: Settings) -> AsyncIterator[Admin]:
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    try:
        if settings.is_development or db.is_sqlite:
            await upgrade_database(db.engine)
        platform = PlatformIdentity.load(settings, settings.public_base_url_for(DEFAULT_PORT))
        relayer = ChainAccountStore(
            data_dir / "chain-keys", settings.keystore_passphrase.get_secret_value()
        ).load_or_create("relayer")
        issuance = IssuanceService(
            db=db,
            platform=platform,
            relayer_address=str(relayer.address),
            outbox=None,
            settings=settings,
        )
        yield Admin(settings=settings, db=db, platform=platform, issuance=issuance)
    finally:
        await db.dispose()
