"""The persisted-query allow-list: documents registered by hash, looked up per request.

`bpp graphql register-queries FILE` stores a JSON map `{sha256: document}` after checking
each hash and that each document is valid against the schema. Requests name a document by
`extensions.persistedQuery.sha256Hash`; in production a document that is not registered is
refused. Lookups are answered from memory after the first hit (a registered document never
changes: its hash is its name), misses are remembered for a few seconds so an unknown hash
cannot make every request query the database.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.models import PersistedQuery
from backend.kit.db import Database
from backend.kit.errors import InvalidInputError

SHA256_HEX: Final = re.compile(r"^[0-9a-f]{64}$")
MAX_DOCUMENT_BYTES: Final = 64 * 1024
MISS_TTL_S: Final = 5.0


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def check_entries(entries: Mapping[str, str]) -> dict[str, str]:
    """The map with every hash checked against its document (lower-case hex)."""
    checked: dict[str, str] = {}
    for given, document in entries.items():
        digest = str(given).lower()
        if not SHA256_HEX.fullmatch(digest):
            raise InvalidInputError(f"{given!r} is not a SHA-256 hex digest", field=str(given))
        if not isinstance(document, str) or not document.strip():
            raise InvalidInputError(f"the document of {digest} is not a string", field=digest)
        if len(document.encode()) > MAX_DOCUMENT_BYTES:
            raise InvalidInputError(f"the document of {digest} is too large", field=digest)
        if document_hash(document) != digest:
            raise InvalidInputError(f"{digest} is not the SHA-256 of its document", field=digest)
        checked[digest] = document
    return checked


async def register(session: AsyncSession, entries: Mapping[str, str]) -> int:
    """Store the documents (already registered ones are kept); how many were new."""
    checked = check_entries(entries)
    if not checked:
        return 0
    known = set(
        await session.exec(
            select(PersistedQuery.sha256).where(col(PersistedQuery.sha256).in_(list(checked)))
        )
    )
    for digest, document in checked.items():
        if digest not in known:
            session.add(PersistedQuery(sha256=digest, document=document))
    await session.flush()
    return len(checked) - len(known)


class PersistedQueries:
    """Lookups for the API processes, cached in memory."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._found: dict[str, str] = {}
        self._missed: dict[str, float] = {}

    async def lookup(self, digest: str) -> str | None:
        found = self._found.get(digest)
        if found is not None:
            return found
        if not SHA256_HEX.fullmatch(digest):
            return None
        missed = self._missed.get(digest)
        if missed is not None and time.monotonic() - missed < MISS_TTL_S:
            return None
        async with self.db.read_only() as session:
            row = await session.get(PersistedQuery, digest)
        if row is None:
            if len(self._missed) > 10_000:
                self._missed.clear()
            self._missed[digest] = time.monotonic()
            return None
        self._found[digest] = row.document
        return row.document
