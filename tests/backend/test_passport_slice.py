"""The vertical slice: register → issue → verify → revoke → verify fails on the status check."""

from __future__ import annotations

from typing import Any

import pytest

from backend.chain.models import ChainTransaction, TxStatus
from backend.runtime import Runtime
from credentials.verifier import VC_API_POLICY
from tests.backend.conftest import GraphQLClient, OrgKey

pytestmark = pytest.mark.integration

REGISTER = """
mutation Register($input: RegisterBatteryInput!) {
  registerBattery(input: $input) {
    __typename
    ... on RegisterBatterySuccess { battery { id identifier chemistry passportId } }
    ... on PassportError { code message field }
  }
}
"""
ISSUE = """
mutation Issue($id: ID!) {
  issuePassport(input: {batteryId: $id}) {
    __typename
    ... on IssuePassportSuccess { credential { id type issuer status document } }
    ... on PassportError { code message field }
  }
}
"""
VERIFY = """
query Verify($credential: JSON!) {
  verifyCredential(credential: $credential) {
    __typename
    ... on VerificationResult { verified checks { name status reason } }
    ... on PassportError { code message }
  }
}
"""
REVOKE = """
mutation Revoke($id: String!, $urgent: Boolean!) {
  revokeCredential(input: {credentialId: $id, reason: "test", urgent: $urgent}) {
    __typename
    ... on RevokeCredentialSuccess { credential { id status revokedAt } }
    ... on PassportError { code message field }
  }
}
"""
PASSPORT = """
query Battery($id: ID!) {
  battery(id: $id) { identifier passport { credentialId status document } }
}
"""


def battery_input(identifier: str) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "model": "E-GMP 77.4 kWh",
        "manufacturer": "Acme Cells",
        "chemistry": "NMC",
        "ratedCapacityAh": 111.2,
        "nominalVoltageV": 697.0,
    }


def check(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in result["checks"] if c["name"] == name]
    assert len(found) == 1, result["checks"]
    return found[0]


async def test_register_issue_verify_revoke(
    gql: GraphQLClient, manufacturer: OrgKey, runtime: Runtime
) -> None:
    registered = (await gql(REGISTER, {"input": battery_input("SLICE-0001")}, key=manufacturer))[
        "registerBattery"
    ]
    assert registered["__typename"] == "RegisterBatterySuccess", registered
    battery_id = registered["battery"]["id"]
    assert registered["battery"]["passportId"].startswith("urn:uuid:")

    issued = (await gql(ISSUE, {"id": battery_id}, key=manufacturer))["issuePassport"]
    assert issued["__typename"] == "IssuePassportSuccess", issued
    credential = issued["credential"]["document"]
    assert credential["type"] == ["VerifiableCredential", "BatteryPassportCredential"]
    # Issued by the responsible organisation (the manufacturer), under its own DID.
    assert credential["issuer"] == runtime.platform.organisation_did(manufacturer.slug)
    assert credential["proof"]["cryptosuite"] == "ecdsa-rdfc-2019"
    assert credential["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert credential["credentialSubject"]["batteryIdentifier"] == "SLICE-0001"

    queried = (await gql(PASSPORT, {"id": battery_id}))["battery"]
    assert queried["passport"]["credentialId"] == credential["id"]
    assert queried["passport"]["status"] == "ACTIVE"

    before = (await gql(VERIFY, {"credential": credential}))["verifyCredential"]
    assert before["verified"] is True, before
    assert check(before, "signature")["status"] == "PASS"
    assert check(before, "status_revocation")["status"] == "PASS"

    revoked = (await gql(REVOKE, {"id": credential["id"], "urgent": True}, key=manufacturer))[
        "revokeCredential"
    ]
    assert revoked["__typename"] == "RevokeCredentialSuccess", revoked
    assert revoked["credential"]["status"] == "REVOKED"

    after = (await gql(VERIFY, {"credential": credential}))["verifyCredential"]
    assert after["verified"] is False
    assert check(after, "status_revocation")["status"] == "FAIL"
    assert check(after, "signature")["status"] == "PASS"

    # The revocation reaches the on-chain registry through the outbox.
    await runtime.issuance.publish_status_changes()
    await runtime.outbox.drain_once()
    async with runtime.db.read_only() as session:
        from sqlmodel import select

        rows = list(await session.exec(select(ChainTransaction)))
    publishes = [r for r in rows if r.function in ("publishChanges", "publishSnapshot")]
    assert publishes, "no status publish was queued"
    assert all(r.status == TxStatus.CONFIRMED for r in rows), [
        (r.function, r.status, r.error) for r in rows
    ]
    status_list_id = credential["credentialStatus"]["statusListCredential"].rsplit("/", 1)[1]
    from backend.issuance.models import StatusList
    from backend.issuance.statuslists import chain_list_id

    async with runtime.db.read_only() as session:
        status_list = await session.get(StatusList, status_list_id)
    assert status_list is not None
    # The list lives under the issuer's own chain account; the relayer only sends for it.
    assert status_list.issuer_address != runtime.chain.relayer.address
    registry = runtime.chain.contract("StatusListRegistry")
    version, _digest = await registry.functions.latest(
        status_list.issuer_address, chain_list_id(status_list_id)
    ).call()
    assert version >= 1

    # With the publish mined and the mirror caught up, the served list is the chain's latest
    # version: chain_consistency passes (and still fails nothing that failed before).
    assert runtime.chain_services is not None
    await runtime.chain_services.mirror.follow_once()
    strict = VC_API_POLICY.with_required("chain_consistency")
    final = (await runtime.issuance.verifier.verifier.verify(credential, policy=strict)).to_json()
    assert check(final, "chain_consistency")["status"] == "pass", final
    assert check(final, "status_revocation")["status"] == "fail"
