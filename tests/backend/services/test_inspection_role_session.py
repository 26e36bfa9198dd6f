"""An inspector organisation that signs in with the city's role credential (no API key)
opens an inspection and signs as itself; a role holder whose key the platform does not keep
(an outside did:key) is refused: the platform cannot sign as it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.runtime import Runtime
from credentials.keys import Signer
from tests.backend.auth.test_role_credentials import Party, present, role_credential
from tests.backend.services.test_inspection_trade import OPEN, accredit, one, register_battery
from tests.backend.test_authorization_matrix import Actor, Api, make_org

pytestmark = pytest.mark.integration

CHALLENGE = "mutation { roleChallenge { ... on RoleChallenge { challenge domain } } }"
SIGN_IN = """mutation($p: JSON!, $c: String!) { signInWithPresentation(presentation: $p,
  challenge: $c) { __typename ... on RoleSession { accessToken role holder }
  ... on AccountError { code message } } }"""


class HostedHolder:
    """An organisation DID the platform hosts, presenting with its own key from the store."""

    def __init__(self, did: str, signer: Signer) -> None:
        self.did = did
        self.signer = signer


async def sign_in(api: Api, holder: Any) -> Actor:
    asked = await one(api, CHALLENGE, {})
    presentation = present(
        holder,
        [role_credential(holder.did, "AccreditedInspectorCredential", None)],
        asked["challenge"],
        domain=asked["domain"],
    )
    session = await one(api, SIGN_IN, {"p": presentation, "c": asked["challenge"]})
    assert session["__typename"] == "RoleSession", session
    assert session["role"] == "inspector"
    return Actor("role-inspector", token=session["accessToken"])


async def test_an_inspector_signed_in_by_role_credential_signs_as_its_organisation(
    client: httpx.AsyncClient, runtime: Runtime, city_is_trusted: None
) -> None:
    api = Api(client)
    authority = await make_org(runtime, "rs-authority", Role.AUTHORITY)
    maker = await make_org(runtime, "rs-maker", Role.MANUFACTURER)
    slug = f"rs-bay-{uuid.uuid4().hex[:6]}"
    async with runtime.db.unit_of_work() as session:
        await get_or_create_organisation(session, slug)  # an organisation row, no API key
    did = runtime.platform.organisation_did(slug)
    hosted = HostedHolder(did, runtime.platform.ensure_key(did))
    outsider = Party()
    for subject in (did, outsider.did):
        await accredit(api, runtime, authority, subject, "INSPECTOR")
    battery = await register_battery(api, maker)

    opened = await one(api, OPEN, {"b": battery}, await sign_in(api, hosted))
    assert opened["__typename"] == "Inspection", opened
    assert (opened["status"], opened["inspector"]) == ("open", did)
    refused = await one(api, OPEN, {"b": battery}, await sign_in(api, outsider))
    assert (refused["code"], refused["field"]) == ("FORBIDDEN", "inspector"), refused
