"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from backend.kit.db import Database
from backend.kit.migrations import upgrade_database
from backend.models import metadata


async def test_migrations_match_models(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        await upgrade_database(db.engine)

        def diff(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with db.engine.connect() as connection:
            differences = await connection.run_sync(diff)
        assert differences == []
    finally:
        await db.dispose()
