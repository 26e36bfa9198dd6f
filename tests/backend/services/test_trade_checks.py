"""The trade's service checks and refusals: a good inspection of another battery fails
`same_battery`, an old one fails `inspection_recency`; expired or withdrawn shares, bad
nonces, unknown claims and strangers are refused with typed errors, nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from backend.orgs.roles import Role
from backend.runtime import Runtime
from backend.trade.models import CredentialShare
from backend.trade.service import inspection_recency, same_battery
from credentials.verifier import CheckStatus
from tests.backend.services.test_inspection_trade import (
    CAPACITY,
    COMPLETE,
    OFFER,
    OPEN,
    PRESENT,
    PULSE,
    SHARE,
    UPLOAD,
    VERIFY,
    accredit,
    bay_read,
    one,
    register_battery,
)
from tests.backend.test_authorization_matrix import Api, make_driver, make_org

pytestmark = pytest.mark.integration

PASSPORT = "query($id: ID!) { battery(id: $id) { passport { document } } }"


def test_recency_follows_the_buyers_policy() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    old = {"inspectedAt": "2026-01-01T00:00:00Z"}
    assert inspection_recency(old, now, timedelta(days=180)).status is CheckStatus.FAIL
    assert inspection_recency(old, now, timedelta(days=365)).status is CheckStatus.PASS
    # without inspectedAt disclosed, the credential's issuance time counts
    issued = {"iat": int((now - timedelta(days=10)).timestamp())}
    assert inspection_recency(issued, now, timedelta(days=7)).status is CheckStatus.FAIL
    assert inspection_recency({}, now, timedelta(days=7)).status is CheckStatus.UNKNOWN
    assert inspection_recency(None, now, timedelta(days=7)).status is CheckStatus.UNKNOWN


def test_same_battery_compares_subject_and_identifier() -> None:
    passport = {"id": "urn:uuid:a", "batteryIdentifier": "A-1"}
    assert same_battery({"sub": "urn:uuid:a"}, passport).status is CheckStatus.PASS
    assert same_battery({"sub": "urn:uuid:b"}, passport).status is CheckStatus.FAIL
    wrong_label = {"sub": "urn:uuid:a", "batteryIdentifier": "B-2"}
    assert same_battery(wrong_label, passport).status is CheckStatus.FAIL
    assert same_battery({}, passport).status is CheckStatus.UNKNOWN
    assert same_battery({"sub": "urn:uuid:a"}, None).status is CheckStatus.UNKNOWN


async def test_refusals_and_a_borrowed_inspection(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    api = Api(client)
    authority = await make_org(runtime, "tc-authority", Role.AUTHORITY)
    maker = await make_org(runtime, "tc-maker", Role.MANUFACTURER)
    inspector = await make_org(runtime, "tc-bay", Role.INSPECTOR)
    carol = await make_driver(api, "carol")
    assert inspector.did is not None
    assert maker.did is not None
    await accredit(api, runtime, authority, inspector.did, "INSPECTOR")
    await accredit(api, runtime, authority, maker.did, "MANUFACTURER")
    good, other = await register_battery(api, maker), await register_battery(api, maker)

    nothing = await one(api, SHARE, {"b": good, "d": None}, maker)
    assert nothing["code"] == "NOT_FOUND"  # no inspection yet: nothing to share
    opened = await one(api, OPEN, {"b": good}, inspector)
    await one(
        api,
        UPLOAD,
        {"i": opened["inspectionId"], "r": bay_read(), "c": CAPACITY, "p": PULSE},
        inspector,
    )
    done = await one(api, COMPLETE, {"i": opened["inspectionId"]}, inspector)
    assert done["status"] == "completed", done

    assert (await one(api, SHARE, {"b": good, "d": None}))["code"] == "UNAUTHENTICATED"
    assert (await one(api, SHARE, {"b": good, "d": None}, carol))["code"] == "FORBIDDEN"
    assert (await one(api, OFFER, {"b": good}, carol))["code"] == "FORBIDDEN"
    unknown = await one(api, SHARE, {"b": good, "d": ["stateOfHealth", "ownerName"]}, maker)
    assert (unknown["code"], unknown["field"]) == ("INVALID_INPUT", "disclose")
    async with runtime.db.read_only() as session:
        assert (
            list(
                await session.exec(
                    select(CredentialShare).where(CredentialShare.battery_id == good)
                )
            )
            == []
        )

    shared = await one(api, SHARE, {"b": good, "d": ["stateOfHealth"]}, maker)
    assert shared["disclose"] == ["stateOfHealth", "sub"]  # the subject always goes along
    bad_nonce = await one(api, PRESENT, {"t": shared["token"], "n": "short"})
    assert bad_nonce["code"] == "INVALID_INPUT"
    assert (await one(api, PRESENT, {"t": "x" * 40, "n": "a-good-nonce"}))["code"] == "NOT_FOUND"
    not_a_vp = await one(api, VERIFY, {"p": {"type": "Thing"}, "n": None, "a": None, "m": 180})
    assert not_a_vp["code"] == "INVALID_INPUT"

    # the seller presents a good inspection of `good` with the passport of `other`
    nonce = "borrowed-inspection-1"
    presented = await one(api, PRESENT, {"t": shared["token"], "n": nonce})
    other_passport = (await api(PASSPORT, {"id": other}))["battery"]["passport"]["document"]
    presentation = presented["presentation"]
    presentation["verifiableCredential"][0] = other_passport
    verdict = await one(
        api, VERIFY, {"p": presentation, "n": nonce, "a": presented["audience"], "m": 180}
    )
    checks = {c["name"]: c["status"] for c in verdict["checks"]}
    assert verdict["verified"] is False
    assert checks["same_battery"] == "FAIL", verdict
    assert checks["signature"] == "PASS"  # every credential is genuine on its own
    page = await client.get(f"/share/{shared['token']}", params={"nonce": "bad nonce!"})
    assert page.status_code == 422

    # a withdrawn share no longer opens; only its creator may withdraw it
    spare = await one(api, SHARE, {"b": good, "d": None}, maker)
    withdraw = """mutation($s: String!) { withdrawShare(input: {shareId: $s}) { __typename
      ... on ShareWithdrawn { shareId } ... on PassportError { code } } }"""
    assert (await one(api, withdraw, {"s": spare["shareId"]}, carol))["code"] == "NOT_FOUND"
    assert (await one(api, withdraw, {"s": spare["shareId"]}, maker))["shareId"] == spare["shareId"]
    assert (await one(api, PRESENT, {"t": spare["token"], "n": nonce}))["code"] == "NOT_FOUND"
    assert (await client.get(f"/share/{spare['token']}")).status_code == 404

    # the share expires
    async with runtime.db.unit_of_work() as session:
        row = (
            await session.exec(
                select(CredentialShare).where(CredentialShare.id == shared["shareId"])
            )
        ).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
    expired = await one(api, PRESENT, {"t": shared["token"], "n": nonce})
    assert expired["code"] == "NOT_FOUND"
    assert "expired" in expired["message"]
    assert (await client.get(f"/share/{shared['token']}")).status_code == 410


@pytest.mark.parametrize(
    "item",
    [
        5,
        "abc",
        "a.b.c",
        [],
        {},
        None,
        {"type": "EnvelopedVerifiableCredential", "id": "data:application/dc+sd-jwt,xx~"},
        {"type": "EnvelopedVerifiableCredential", "id": "data:application/vc+jwt,a.b.c"},
        {"type": ["VerifiableCredential"], "credentialSubject": 3},
    ],
)
async def test_garbage_in_a_presentation_fails_verification_without_an_error(
    client: httpx.AsyncClient, item: object
) -> None:
    api = Api(client)
    presentation = {"type": ["VerifiablePresentation"], "verifiableCredential": [item]}
    verdict = await one(api, VERIFY, {"p": presentation, "n": "nonce-1234", "a": None, "m": 180})
    assert verdict["verified"] is False, verdict
    checks = {c["name"]: c["status"] for c in verdict["checks"]}
    assert checks["same_battery"] == "UNKNOWN"
