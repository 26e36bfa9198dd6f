"""Role-credential sign-in through the API: the authority accredits an inspector in the
on-chain issuer registry (GraphQL), the inspector answers the server's challenge with a
presentation of the city's role credential and gets a role session, which reads restricted
data as an inspector — and those reads are in the audit log the authority reads."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from backend.auth.role_credentials import ACCREDITATION_TYPE
from backend.orgs.roles import Role
from backend.runtime import Runtime
from tests.backend.auth.test_role_credentials import Party, present, role_credential
from tests.backend.test_authorization_matrix import Actor, Api, make_org

pytestmark = pytest.mark.integration

SIGN_IN = """
mutation($p: JSON!, $c: String!) { signInWithPresentation(presentation: $p, challenge: $c) {
  __typename ... on RoleSession { accessToken role holder } ... on AccountError { code message } } }
"""
CHALLENGE = (
    """mutation { roleChallenge { __typename ... on RoleChallenge { challenge domain } } }"""
)


async def test_an_accredited_inspector_signs_in_by_presentation_and_is_audited(
    client: httpx.AsyncClient, runtime: Runtime, city_is_trusted: None
) -> None:
    api = Api(client)
    authority = await make_org(runtime, "role-authority", Role.AUTHORITY)
    maker = await make_org(runtime, "role-maker", Role.MANUFACTURER)
    inspector = Party()
    assert runtime.role_auth is not None

    async def sign_in() -> dict[str, str]:
        asked = (await api(CHALLENGE))["roleChallenge"]
        assert asked["domain"] == runtime.platform.host
        presentation = present(
            inspector,
            [role_credential(inspector.did, "AccreditedInspectorCredential", None)],
            asked["challenge"],
            domain=asked["domain"],
        )
        answer: dict[str, str] = (await api(SIGN_IN, {"p": presentation, "c": asked["challenge"]}))[
            "signInWithPresentation"
        ]
        return answer

    refused = await sign_in()
    assert refused["code"] == "PRESENTATION_REJECTED"
    assert "not accredited" in refused["message"]

    accredited = (
        await api(
            """mutation($i: String!) { accreditIssuer(input: {issuer: $i, role: INSPECTOR,
                 days: 30}) { __typename ... on AuthorityError { code message } } }""",
            {"i": inspector.did},
            authority,
        )
    )["accreditIssuer"]
    assert accredited["__typename"] == "AccreditationQueued", accredited
    await runtime.outbox.drain_once()
    for _ in range(100):  # the chain mirror follows the registry's events
        if await runtime.role_auth.accreditation.is_accredited(
            inspector.did, [ACCREDITATION_TYPE[Role.INSPECTOR]], datetime.now(UTC)
        ):
            break
        await asyncio.sleep(0.1)

    session = await sign_in()
    assert session["__typename"] == "RoleSession", session
    assert (session["role"], session["holder"]) == ("inspector", inspector.did)

    registered = (
        await api(
            """mutation($i: RegisterBatteryInput!) { registerBattery(input: $i) {
                 ... on RegisterBatterySuccess { battery { id } } } }""",
            {
                "i": {
                    "identifier": f"RS-{uuid.uuid4().hex[:8].upper()}",
                    "model": "Role",
                    "manufacturer": "Role",
                    "chemistry": "LFP",
                    "ratedCapacityAh": 60,
                    "nominalVoltageV": 360,
                }
            },
            maker,
        )
    )["registerBattery"]
    battery = registered["battery"]["id"]
    as_inspector = Actor("inspector", token=session["accessToken"])
    seen = (
        await api(
            "query($id: ID!) { battery(id: $id) { access { groups } attributes { term access } } }",
            {"id": battery},
            as_inspector,
        )
    )["battery"]
    # No driver owns the battery: an accredited legitimate-interest role reaches every group.
    assert "PERFORMANCE" in seen["access"]["groups"]
    assert any(a["access"] == "LEGITIMATE_INTEREST" for a in seen["attributes"])

    log = (
        await api(
            """query($actor: String!) { auditLog(filter: {actor: $actor}, first: 50) {
                 __typename ... on AuditEntryConnection { edges { node { action reason
                 resourceId details } } } } }""",
            {"actor": f"org:{inspector.did}"},
            authority,
        )
    )["auditLog"]
    reads = [edge["node"] for edge in log["edges"]]
    assert any(
        entry["action"] == "passport.read_restricted"
        and entry["resourceId"] == battery_uuid(battery, runtime)
        for entry in reads
    ), reads


def battery_uuid(global_id: str, runtime: Runtime) -> str:
    from graphql_schema.relay import from_global_id

    return from_global_id(global_id)[1]
