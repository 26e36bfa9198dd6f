"""Production mode: no GraphiQL, no introspection, unexpected errors masked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from backend.app import create_app
from backend.runtime import Runtime
from backend.settings import Environment, Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def production_client(
    settings: Settings, runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    production = settings.model_copy(
        update={"environment": Environment.PRODUCTION, "secret_key": settings.secret_key}
    )
    app = create_app(production, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_production_has_no_graphiql_and_no_introspection(
    production_client: httpx.AsyncClient,
) -> None:
    page = await production_client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code != 200 or "graphiql" not in page.text.lower()
    introspection = await production_client.post(
        "/graphql", json={"query": "{ __schema { types { name } } }"}
    )
    body = introspection.json()
    assert body.get("data") is None
    # Not a registered document: refused before validation even looks at it.
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_production_without_the_allow_list_still_refuses_introspection(
    settings: Settings, runtime: Runtime
) -> None:
    production = settings.model_copy(
        update={"environment": Environment.PRODUCTION, "graphql_allowlist": False}
    )
    app = create_app(production, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = (
            await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        ).json()
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        # No field suggestions outside development: they would map the hidden schema.
        typo = (await client.post("/graphql", json={"query": "{ batterie { id } }"})).json()
        assert typo["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "Did you mean" not in typo["errors"][0]["message"]
        assert "batterie" in typo["errors"][0]["message"]
