"""A running runtime and app for the backend tests, on the services the environment names."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from backend.app import create_app
from backend.orgs.roles import Role
from backend.orgs.service import create_api_key, get_or_create_organisation
from backend.runtime import Runtime
from backend.settings import Settings
from tests.services import anvil_node, chain_choice, flush_redis, postgres_database


@pytest.fixture(scope="session")
def chain_rpc_url() -> Iterator[str | None]:
    if chain_choice() == "anvil":
        with anvil_node() as url:
            yield url
    else:
        yield None


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    server = os.environ.get("BPP_TEST_DATABASE_URL")
    if server:
        async with postgres_database(server) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'bpp.sqlite3'}"


@pytest.fixture(scope="session")
async def redis_url() -> str | None:
    url = os.environ.get("BPP_TEST_REDIS_URL")
    if url:
        await flush_redis(url)
    return url


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bpp-data")


@pytest.fixture(scope="session")
def settings(
    data_dir: Path, database_url: str, redis_url: str | None, chain_rpc_url: str | None
) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        chain_rpc_url=chain_rpc_url,
        public_base_url="http://127.0.0.1:8000",
        status_publish_interval_s=0.2,
        # The suite sends hundreds of requests a second from one address; the limits have
        # their own tests (test_api_hardening.py) with their own settings.
        rate_limit_ip_per_s=1_000_000.0,
        rate_limits={"default": 1_000_000.0},
    )


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await Runtime.start(settings)
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture(scope="session")
def app(settings: Settings, runtime: Runtime) -> FastAPI:
    return create_app(settings, runtime=runtime)


@pytest.fixture
async def client(app: FastAPI, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=runtime.platform.base_url) as http:
        yield http


@dataclass(frozen=True)
class OrgKey:
    slug: str
    role: Role
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_key(runtime: Runtime, slug: str, role: Role) -> OrgKey:
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, slug)
        _, plaintext = await create_api_key(
            session, organisation, role, runtime.settings.secret_key.get_secret_value()
        )
    return OrgKey(slug=slug, role=role, key=plaintext)


@pytest.fixture(scope="session")
async def manufacturer(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "acme-cells", Role.MANUFACTURER)


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, key: OrgKey | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=key.headers if key else {},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


@pytest.fixture
def city_is_trusted(runtime: Runtime) -> Iterator[None]:
    """The city's DID as the trusted root of role credentials (BPP_ROLE_CREDENTIAL_ISSUERS)."""
    from tests.backend.auth.test_role_credentials import CITY

    assert runtime.role_auth is not None
    before = runtime.role_auth.trusted_issuers
    runtime.role_auth.trusted_issuers = frozenset({CITY.did})
    yield
    runtime.role_auth.trusted_issuers = before
