"""A subscription on one server process receives what a mutation on another one published."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets

from backend.runtime import Runtime
from tests.backend.conftest import GraphQLClient, OrgKey
from tests.backend.test_cli_serve import bpp_server
from tests.backend.test_passport_slice import ISSUE, REGISTER, REVOKE, battery_input
from tests.services import free_port

pytestmark = pytest.mark.integration


@contextmanager
def second_server(runtime: Runtime, data_dir: Path) -> Iterator[str]:
    """Another API process on the same Redis (and the same database and chain node if real)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPP_")}
    env |= {"BPP_DATA_DIR": str(data_dir), "BPP_REDIS_URL": runtime.redis_url}
    if not runtime.db.is_sqlite:
        env["BPP_DATABASE_URL"] = runtime.db.url
    if runtime.settings.chain_rpc_url:
        env["BPP_CHAIN_RPC_URL"] = runtime.settings.chain_rpc_url
    with bpp_server(env, data_dir, free_port()) as base:
        yield base.removeprefix("http://")


async def next_message(ws: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        if message["type"] != "ping":
            return message
        await ws.send(json.dumps({"type": "pong"}))


async def test_a_revocation_on_one_process_reaches_a_subscriber_on_another(
    gql: GraphQLClient, manufacturer: OrgKey, runtime: Runtime, tmp_path: Path
) -> None:
    battery = (await gql(REGISTER, {"input": battery_input("SUBS-0001")}, key=manufacturer))[
        "registerBattery"
    ]["battery"]
    issued = (await gql(ISSUE, {"id": battery["id"]}, key=manufacturer))["issuePassport"]
    credential = issued["credential"]["document"]

    with second_server(runtime, tmp_path) as base:
        async with websockets.connect(
            f"ws://{base}/graphql", subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert (await next_message(ws))["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {
                            "query": "subscription($id: String!) "
                            "{ credentialStatus(credentialId: $id) { credentialId status } }",
                            "variables": {"id": credential["id"]},
                        },
                    }
                )
            )
            await asyncio.sleep(0.5)  # let the other process subscribe on Redis
            revoked = await gql(REVOKE, {"id": credential["id"], "urgent": False}, key=manufacturer)
            assert revoked["revokeCredential"]["__typename"] == "RevokeCredentialSuccess"
            message = await next_message(ws)
            assert message["type"] == "next", message
            assert message["payload"]["data"]["credentialStatus"] == {
                "credentialId": credential["id"],
                "status": "REVOKED",
            }
