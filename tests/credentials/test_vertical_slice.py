"""The first vertical slice: issue a battery passport with a status entry, verify, revoke."""

from __future__ import annotations

import json
from typing import Any

from credentials.verifier import CheckStatus, Verifier
from tests.credentials.conftest import Org, passport_credential


def _statuses(result: Any) -> dict[str, str]:
    return {c.name: c.status.value for c in result.checks}


async def test_issued_passport_verifies_with_all_checks(acme: Org, verifier: Verifier) -> None:
    entry = acme.entry("revocation")
    vc = acme_issue(acme, passport_credential(acme.did, [entry]))
    result = await verifier.verify(vc)
    assert result.verified, result.to_json()
    statuses = _statuses(result)
    assert statuses["schema"] == "pass"
    assert statuses["signature"] == "pass"
    assert statuses["validity_period"] == "pass"
    assert statuses["status_revocation"] == "pass"
    assert statuses["status_suspension"] == "skipped"
    assert statuses["issuer_accredited"] == "skipped"


async def test_revoked_credential_fails_status_check(acme: Org, verifier: Verifier) -> None:
    entry = acme.entry("revocation")
    vc = acme_issue(acme, passport_credential(acme.did, [entry]))
    acme.set_status(entry, 1)
    verifier.invalidate_status_list(entry["statusListCredential"])
    result = await verifier.verify(vc)
    assert not result.verified
    check = result.check("status_revocation")
    assert check is not None
    assert check.status is CheckStatus.FAIL
    assert _statuses(result)["signature"] == "pass"


async def test_suspension_then_reinstatement(acme: Org, verifier: Verifier) -> None:
    revocation, suspension = acme.entry("revocation"), acme.entry("suspension")
    vc = acme_issue(acme, passport_credential(acme.did, [revocation, suspension]))
    acme.set_status(suspension, 1)
    verifier.invalidate_status_list()
    suspended = await verifier.verify(vc)
    assert not suspended.verified
    assert _statuses(suspended)["status_suspension"] == "fail"
    assert _statuses(suspended)["status_revocation"] == "pass"
    acme.set_status(suspension, 0)
    verifier.invalidate_status_list()
    assert (await verifier.verify(vc)).verified


async def test_result_serialises_to_exactly_the_wire_shape(acme: Org, verifier: Verifier) -> None:
    vc = acme_issue(acme, passport_credential(acme.did, [acme.entry("revocation")]))
    wire = json.loads(json.dumps((await verifier.verify(vc)).to_json()))
    assert set(wire) == {"verified", "checks", "snapshot_age_s"}
    assert wire["snapshot_age_s"] is None
    for check in wire["checks"]:
        assert set(check) == {"name", "status", "reason"}
        assert check["status"] in {"pass", "fail", "unknown", "skipped"}
    assert [c["name"] for c in wire["checks"]][:8] == [
        "schema",
        "signature",
        "validity_period",
        "issuer_accredited",
        "status_revocation",
        "status_suspension",
        "status_message",
        "chain_consistency",
    ]


async def test_unreachable_status_list_is_unknown_and_not_verified(acme: Org) -> None:
    entry = acme.entry("revocation")
    vc = acme_issue(acme, passport_credential(acme.did, [entry]))
    from credentials.did import StaticDocumentFetcher

    dids_only = StaticDocumentFetcher()
    acme.fetcher = dids_only
    acme.publish_did()
    result = await Verifier(fetcher=dids_only).verify(vc)
    assert _statuses(result)["status_revocation"] == "unknown"
    assert not result.verified


def acme_issue(org: Org, credential: dict[str, Any]) -> dict[str, Any]:
    from credentials.issuance import issue

    return issue(credential, org.store.signer(org.key_id))
