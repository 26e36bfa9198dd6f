"""Auth benchmark: ``python -m bench.auth --json``.

What one request's authentication and authorization cost, on the embedded defaults (a SQLite
file and an embedded Valkey in a temporary folder):

* ``argon2_hash_ms`` / ``argon2_verify_ms``: one password hash / check with the production
  parameters (argon2-cffi's RFC 9106 low-memory profile) — the cost of each sign-up / login.
* ``resolve_access_token_per_s``: our JWT → principal (HS256 check + one Redis ``MGET``).
* ``resolve_api_key_per_s``: an API key → principal (keyed hash + one database lookup).
* ``authorize_per_s``: ``decide`` on a restricted read with a consent set (pure function).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from backend.auth.policy import Action, ConsentGrants, Resource, ResourceKind, decide
from backend.auth.principal import Principal
from backend.auth.service import AuthServices
from backend.auth.tokens import TokenKind
from backend.kit.db import Database
from backend.kit.migrations import upgrade_database
from backend.kit.redis import EmbeddedValkey, connect
from backend.orgs.roles import Role
from backend.orgs.service import create_api_key, get_or_create_organisation
from backend.settings import Settings


def _per_s(seconds: float, run: Callable[[], object]) -> float:
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        count += 1
    return count / (time.perf_counter() - start)


async def _per_s_async(seconds: float, run: Callable[[], Awaitable[object]]) -> float:
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        await run()
        count += 1
    return count / (time.perf_counter() - start)


def _argon2(repeats: int) -> tuple[float, float]:
    hasher = PasswordHasher()
    hashes, verifies = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        stored = hasher.hash("correct horse battery")
        hashes.append(time.perf_counter() - start)
        start = time.perf_counter()
        hasher.verify(stored, "correct horse battery")
        verifies.append(time.perf_counter() - start)
    return min(hashes) * 1000, min(verifies) * 1000


async def _measure(seconds: float, folder: Path) -> dict[str, Any]:
    valkey = EmbeddedValkey(folder)
    redis = connect(valkey.start())
    db = Database(f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}")
    try:
        await upgrade_database(db.engine)
        settings = Settings(data_dir=folder)
        auth = AuthServices.build(
            settings, db, redis, lambda slug, role: f"did:web:bench.example:orgs:{slug}"
        )
        token, _ = auth.tokens.issue(TokenKind.DRIVER, "driver-1", "session-1")
        async with db.unit_of_work() as session:
            organisation = await get_or_create_organisation(session, "bench-org")
            _, key = await create_api_key(
                session, organisation, Role.RECYCLER, settings.secret_key.get_secret_value()
            )
        inspector = Principal(
            organisation_id=1, organisation_slug="i", role=Role.INSPECTOR, did="did:web:x:i"
        )
        consents = ConsentGrants.of((f"owner-{i}", "did:web:x:i", "group") for i in range(100))
        battery = Resource(ResourceKind.BATTERY, id="b", owner_id="owner-42", data_group="group")
        return {
            "resolve_access_token_per_s": round(
                await _per_s_async(seconds, lambda: auth.resolver.resolve(token))
            ),
            "resolve_api_key_per_s": round(
                await _per_s_async(seconds, lambda: auth.resolver.resolve(key))
            ),
            "authorize_per_s": round(
                _per_s(
                    seconds, lambda: decide(inspector, Action.READ_RESTRICTED, battery, consents)
                )
            ),
        }
    finally:
        await redis.aclose()
        await db.dispose()
        valkey.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=2.0, help="per throughput figure")
    parser.add_argument("--argon2-repeats", type=int, default=5)
    args = parser.parse_args()
    hash_ms, verify_ms = _argon2(args.argon2_repeats)
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(_measure(args.seconds, Path(folder)))
    result = {
        "argon2_hash_ms": round(hash_ms, 1),
        "argon2_verify_ms": round(verify_ms, 1),
        **figures,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name}: {value}")


if __name__ == "__main__":
    main()
