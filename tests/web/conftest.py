"""Page tests share the backend tests' runtime and app (one per session), and one seeded
passport; browser tests start their own server process (tests/web/server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from backend.orgs.roles import Role
from backend.runtime import Runtime
from tests.backend.conftest import (  # noqa: F401 - fixtures re-exported for tests/web
    app,
    chain_rpc_url,
    data_dir,
    database_url,
    make_key,
    redis_url,
    runtime,
    settings,
)
from tests.web.seed import Keys, Seeded, seed


@pytest.fixture(scope="session")
async def web(app: FastAPI, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=runtime.platform.base_url) as http:
        yield http


async def make_keys(runtime: Runtime) -> Keys:  # noqa: F811
    repairer = await make_key(runtime, "web-fix-it", Role.REPAIRER)
    return Keys(
        manufacturer=(await make_key(runtime, "web-acme", Role.MANUFACTURER)).key,
        operator=(await make_key(runtime, "web-charge", Role.CHARGE_POINT_OPERATOR)).key,
        repairer=repairer.key,
        repairer_did=runtime.platform.organisation_did(repairer.slug),
        other_repairer=(await make_key(runtime, "web-other-fix", Role.REPAIRER)).key,
    )


@pytest.fixture(scope="session")
async def seeded(web: httpx.AsyncClient, runtime: Runtime) -> Seeded:  # noqa: F811
    return await seed(web, await make_keys(runtime))
