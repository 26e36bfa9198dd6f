"""The API's guard rails: cost limit, rate limits, the persisted-query allow-list, body size,
batching off, security headers — each refusal before execution, with its code."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from backend.api.persisted import register
from backend.app import create_app
from backend.runtime import Runtime
from backend.settings import Environment, Settings

pytestmark = pytest.mark.integration

CHEAP = "{ batteries(first: 2) { edges { node { identifier } } } }"
COSTLY = """{ batteries(first: 100) { edges { node {
  events { kind } installations { vehicleId } attributes { term }
  passportVersions { version } batteryModel { attributes { term } } } } } }"""


async def client_for(settings: Settings, runtime: Runtime, **update: Any) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update=update), runtime=runtime)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def guarded(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(settings, runtime, graphql_max_cost=500) as client:
        yield client


async def test_cost_is_reported_and_a_costly_query_is_refused_before_execution(
    guarded: httpx.AsyncClient,
) -> None:
    cheap = (await guarded.post("/graphql", json={"query": CHEAP})).json()
    assert "errors" not in cheap
    assert cheap["extensions"]["cost"] == {"requested": 5, "maximum": 500}
    refused = (await guarded.post("/graphql", json={"query": COSTLY})).json()
    assert refused["data"] is None
    (error,) = refused["errors"]
    assert error["extensions"]["code"] == "QUERY_COST_EXCEEDED"
    assert error["extensions"]["cost"] == {"requested": 801, "maximum": 500}
    # The page size drives the cost: the same shape with first: 5 is within the limit.
    smaller = (await guarded.post("/graphql", json={"query": COSTLY.replace("100", "5")})).json()
    assert "errors" not in smaller, smaller
    # Variables count as written: first: $n with n = 100 costs as much as the literal.
    by_variable = (
        await guarded.post(
            "/graphql",
            json={
                "query": COSTLY.replace(
                    "{ batteries(first: 100)", "query($n: Int) { batteries(first: $n)"
                ),
                "variables": {"n": 100},
            },
        )
    ).json()
    assert by_variable["errors"][0]["extensions"]["code"] == "QUERY_COST_EXCEEDED"


async def test_a_burst_over_the_limit_gets_rate_limited_with_a_retry_time(
    settings: Settings, runtime: Runtime
) -> None:
    async with await client_for(
        settings,
        runtime,
        rate_limits={"anonymous": 1.0, "default": 1.0},
        rate_limit_burst_s=3.0,
        trust_forwarded_for=True,
    ) as client:
        address = {"X-Forwarded-For": f"10.{uuid.uuid4().int % 250}.0.{uuid.uuid4().int % 250}"}
        answers = [
            await client.post("/graphql", json={"query": CHEAP}, headers=address) for _ in range(6)
        ]
        statuses = [answer.status_code for answer in answers]
        assert statuses[:3] == [200, 200, 200]  # the burst
        limited = [answer for answer in answers if answer.status_code == 429]
        assert limited, statuses
        body = limited[0].json()
        assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        retry = body["errors"][0]["extensions"]["retryAfter"]
        assert 0 < retry <= 1.0
        assert int(limited[0].headers["Retry-After"]) >= 1
        # Another address has its own bucket.
        other = await client.post(
            "/graphql", json={"query": CHEAP}, headers={"X-Forwarded-For": "192.0.2.77"}
        )
        assert other.status_code == 200


async def test_production_runs_only_registered_documents(
    settings: Settings, runtime: Runtime
) -> None:
    document = f"query Mine {{ batteries(first: 1) {{ edges {{ cursor }} }} }} # {uuid.uuid4()}"
    digest = hashlib.sha256(document.encode()).hexdigest()
    async with runtime.db.unit_of_work() as session:
        assert await register(session, {digest: document}) == 1
    async with await client_for(settings, runtime, environment=Environment.PRODUCTION) as client:
        unregistered = (await client.post("/graphql", json={"query": CHEAP})).json()
        assert unregistered["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        by_hash = (await client.post("/graphql", json={"extensions": persisted})).json()
        assert "errors" not in by_hash, by_hash
        assert "batteries" in by_hash["data"]
        with_text = (
            await client.post("/graphql", json={"query": document, "extensions": persisted})
        ).json()
        assert with_text["data"] == by_hash["data"]
        mismatch = (
            await client.post("/graphql", json={"query": CHEAP, "extensions": persisted})
        ).json()
        assert mismatch["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_MISMATCH"
        unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        missing = (await client.post("/graphql", json={"extensions": unknown})).json()
        assert missing["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        # GET works for cacheable queries, by hash; an anonymous answer may be cached.
        got = await client.get("/graphql", params={"extensions": json.dumps(persisted)})
        assert got.status_code == 200
        assert got.json()["data"] == by_hash["data"]
        assert got.headers["Cache-Control"] == "public, max-age=30"


async def test_bodies_over_the_limit_batches_and_headers(
    settings: Settings, runtime: Runtime
) -> None:
    async with await client_for(settings, runtime, max_body_bytes=2048) as client:
        big = await client.post("/graphql", json={"query": CHEAP + " " * 4096})
        assert big.status_code == 413
        assert big.json()["title"] == "PAYLOAD_TOO_LARGE"
        batch = await client.post("/graphql", json=[{"query": CHEAP}, {"query": CHEAP}])
        assert batch.status_code == 400
        health = await client.get("/healthz")
        assert health.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in health.headers["content-security-policy"]


def test_register_queries_checks_hashes_and_documents(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.cli import app

    monkeypatch.setenv("BPP_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    good = "query Passport($id: ID!) { battery(id: $id) { identifier } }"
    valid = tmp_path / "queries.json"
    valid.write_text(json.dumps({hashlib.sha256(good.encode()).hexdigest(): good}))
    result = runner.invoke(app, ["graphql", "register-queries", str(valid)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"registered": 1, "new": 1}
    again = runner.invoke(app, ["graphql", "register-queries", str(valid)])
    assert json.loads(again.output) == {"registered": 1, "new": 0}

    wrong_hash = tmp_path / "wrong.json"
    wrong_hash.write_text(json.dumps({"ab" * 32: good}))
    assert runner.invoke(app, ["graphql", "register-queries", str(wrong_hash)]).exit_code == 2
    invalid = "{ noSuchField }"
    bad_document = tmp_path / "invalid.json"
    bad_document.write_text(json.dumps({hashlib.sha256(invalid.encode()).hexdigest(): invalid}))
    refused = runner.invoke(app, ["graphql", "register-queries", str(bad_document)])
    assert refused.exit_code == 2
    assert "does not validate" in refused.output
