"""The verifier end to end: every suite, proof sets/chains, tampering, presentations,
message status lists, policies, accreditation, chain hook, snapshots, work bounds."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from credentials.dataintegrity import Cryptosuite, ProofOptions, add_proof
from credentials.did import did_key_from_public_key, did_key_vm_id
from credentials.errors import CanonicalizationError
from credentials.issuance import issue, sign_presentation
from credentials.keys import KeyPair
from credentials.limits import Limits
from credentials.snapshot import AccreditationRecord, Snapshot, write_snapshot
from credentials.statuslist import DecodedStatusList, StatusPurpose
from credentials.verifier import (
    PLATFORM_POLICY,
    VC_API_POLICY,
    ChainVerdict,
    CheckName,
    CheckStatus,
    VerificationResult,
    Verifier,
)
from tests.credentials.conftest import Org, passport_credential

SUITES = [
    ("P-256", Cryptosuite.ECDSA_RDFC_2019),
    ("P-384", Cryptosuite.ECDSA_RDFC_2019),
    ("Ed25519", Cryptosuite.EDDSA_RDFC_2022),
    ("P-256", Cryptosuite.ECDSA_JCS_2019),
    ("P-384", Cryptosuite.ECDSA_JCS_2019),
    ("Ed25519", Cryptosuite.EDDSA_JCS_2022),
]


def _status(result: VerificationResult, name: str) -> CheckStatus:
    check = result.check(name)
    assert check is not None, name
    return check.status


def _signer(org: Org, algorithm: str) -> Any:
    if algorithm == "P-256":
        return org.store.signer(org.key_id)
    record = org.store.create(org.did, algorithm)
    org.publish_did()
    return org.store.signer(record.key_id)


@pytest.mark.parametrize(("algorithm", "suite"), SUITES, ids=str)
async def test_round_trip_every_suite(
    acme: Org, verifier: Verifier, algorithm: str, suite: Cryptosuite
) -> None:
    vc = issue(
        passport_credential(acme.did, [acme.entry("revocation")]),
        _signer(acme, algorithm),
        cryptosuite=suite,
    )
    assert vc["proof"]["cryptosuite"] == suite.value
    result = await verifier.verify(vc)
    assert result.verified, result.to_json()


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _tampered(document: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    old = target[path[-1]]
    if isinstance(old, bool):
        new: Any = not old
    elif isinstance(old, int | float):
        new = old + 1
    elif isinstance(old, str) and old.startswith("z") and path[-1] == "proofValue":
        new = old[:-2] + ("A" if old[-2] != "A" else "B") + old[-1]
    else:
        new = str(old) + "x"
    target[path[-1]] = new
    return copied


@pytest.mark.parametrize(("algorithm", "suite"), SUITES, ids=str)
async def test_one_changed_value_anywhere_fails_naming_the_check(
    acme: Org, verifier: Verifier, algorithm: str, suite: Cryptosuite
) -> None:
    vc = issue(
        passport_credential(acme.did, [acme.entry("revocation")]),
        _signer(acme, algorithm),
        cryptosuite=suite,
    )
    assert (await verifier.verify(vc)).verified
    paths = list(_leaves(vc))
    assert len(paths) > 25
    for path in paths:
        result = await verifier.verify(_tampered(vc, path))
        failing = [c.name for c in result.checks if c.status is CheckStatus.FAIL]
        assert not result.verified, path
        assert failing, (path, result.to_json())
        if path[0] not in ("@context", "type"):
            assert CheckName.SIGNATURE in failing or CheckName.SCHEMA in failing, path


async def test_proof_set_and_proof_chain(acme: Org, verifier: Verifier) -> None:
    p256 = acme.store.signer(acme.key_id)
    ed = _signer(acme, "Ed25519")
    base = passport_credential(acme.did)
    first = issue(base, p256, proof_id="urn:uuid:proof-1")
    proof_set = issue(first, ed, cryptosuite=Cryptosuite.EDDSA_RDFC_2022)
    assert len(proof_set["proof"]) == 2
    assert (await verifier.verify(proof_set)).verified
    chain = issue(
        first, ed, cryptosuite=Cryptosuite.EDDSA_RDFC_2022, previous_proof="urn:uuid:proof-1"
    )
    assert chain["proof"][1]["previousProof"] == "urn:uuid:proof-1"
    assert (await verifier.verify(chain)).verified
    # dropping the proof the chain points at breaks the chain
    broken = copy.deepcopy(chain)
    broken["proof"] = [broken["proof"][1]]
    result = await verifier.verify(broken)
    assert _status(result, "signature") is CheckStatus.FAIL
    # swapping the chained proof's signature for another breaks both
    swapped = copy.deepcopy(chain)
    swapped["proof"][0]["created"] = "2020-01-01T00:00:00Z"
    assert not (await verifier.verify(swapped)).verified


async def test_message_status_with_status_size_two(acme: Org, verifier: Verifier) -> None:
    acme.add_list("messages", StatusPurpose.MESSAGE, status_size=2)
    entry = acme.entry("messages")
    vc = issue(passport_credential(acme.did, [entry]), acme.store.signer(acme.key_id))
    acme.set_status(entry, 2)
    result = await verifier.verify(vc)
    check = result.check("status_message")
    assert check is not None
    assert check.status is CheckStatus.PASS
    assert "0x2" in check.reason
    assert "restricted" in check.reason
    assert result.verified


async def test_validity_period(acme: Org, verifier: Verifier) -> None:
    vc = issue(passport_credential(acme.did), acme.store.signer(acme.key_id))
    before = await verifier.verify(vc, at=datetime(2025, 5, 31, tzinfo=UTC))
    assert _status(before, "validity_period") is CheckStatus.FAIL
    credential = passport_credential(acme.did)
    credential["validUntil"] = "2025-07-01T00:00:00Z"
    expiring = issue(credential, acme.store.signer(acme.key_id))
    after = await verifier.verify(expiring, at=datetime(2025, 7, 2, tzinfo=UTC))
    assert _status(after, "validity_period") is CheckStatus.FAIL
    inside = await verifier.verify(expiring, at=datetime(2025, 6, 15, tzinfo=UTC))
    assert inside.verified


async def test_key_of_another_did_cannot_sign_for_the_issuer(acme: Org, verifier: Verifier) -> None:
    outsider = KeyPair.generate("P-256")
    did = did_key_from_public_key(outsider.public)
    forged = add_proof(
        passport_credential(acme.did),
        outsider,
        ProofOptions(verification_method=did_key_vm_id(did)),
    )
    result = await verifier.verify(forged)
    assert _status(result, "signature") is CheckStatus.FAIL


async def test_retired_key_still_verifies_old_credentials(acme: Org, verifier: Verifier) -> None:
    old = issue(passport_credential(acme.did), acme.store.signer(acme.key_id))
    acme.store.rotate(acme.did)
    acme.publish_did()
    verifier = Verifier(fetcher=acme.fetcher)
    assert (await verifier.verify(old)).verified
    new = issue(passport_credential(acme.did), acme.store.signer(acme.key_id))
    assert (await verifier.verify(new)).verified


async def test_presentation_with_challenge_and_domain(acme: Org, verifier: Verifier) -> None:
    vc = issue(
        passport_credential(acme.did, [acme.entry("revocation")]), acme.store.signer(acme.key_id)
    )
    holder = KeyPair.generate("Ed25519")
    holder_did = did_key_from_public_key(holder.public)
    vp = sign_presentation(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": holder_did,
            "verifiableCredential": [vc],
        },
        holder.with_key_id(did_key_vm_id(holder_did)),
        challenge="nonce-123",
        domain="https://parking.example",
        cryptosuite=Cryptosuite.EDDSA_RDFC_2022,
    )
    ok = await verifier.verify(vp, challenge="nonce-123", domain="https://parking.example")
    assert ok.verified, ok.to_json()
    assert len(ok.credential_results) == 1
    wrong = await verifier.verify(vp, challenge="other", domain="https://parking.example")
    assert not wrong.verified
    assert _status(wrong, "signature") is CheckStatus.FAIL
    wrong_domain = await verifier.verify(vp, challenge="nonce-123", domain="https://evil.example")
    assert not wrong_domain.verified
    acme.set_status(vc["credentialStatus"], 1)
    verifier.invalidate_status_list()
    revoked = await verifier.verify(vp, challenge="nonce-123", domain="https://parking.example")
    assert not revoked.verified
    assert _status(revoked, "status_revocation") is CheckStatus.FAIL


class _Registry:
    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    async def is_accredited(
        self, issuer: str, credential_types: Sequence[str], at: datetime
    ) -> bool | None:
        self.asked.append((issuer, tuple(credential_types)))
        return self.answer


@pytest.mark.parametrize(
    ("answer", "expected", "verified"),
    [
        (True, CheckStatus.PASS, True),
        (False, CheckStatus.FAIL, False),
        (None, CheckStatus.UNKNOWN, False),
    ],
)
async def test_platform_policy_requires_accreditation(
    acme: Org, answer: bool | None, expected: CheckStatus, verified: bool
) -> None:
    vc = issue(passport_credential(acme.did), acme.store.signer(acme.key_id))
    registry = _Registry(answer)
    verifier = Verifier(fetcher=acme.fetcher, accreditation=registry, policy=PLATFORM_POLICY)
    result = await verifier.verify(vc)
    assert _status(result, "issuer_accredited") is expected
    assert result.verified is verified
    assert registry.asked == [(acme.did, ("VerifiableCredential", "BatteryPassportCredential"))]
    # the VC-API policy does not ask
    assert (await Verifier(fetcher=acme.fetcher, accreditation=registry).verify(vc)).verified


class _Chain:
    def __init__(self, verdict: ChainVerdict) -> None:
        self.verdict = verdict
        self.seen: list[str] = []

    async def check_status_list(
        self, list_credential: Mapping[str, Any], decoded: DecodedStatusList
    ) -> ChainVerdict:
        self.seen.append(decoded.url)
        return self.verdict


async def test_chain_consistency_hook(acme: Org) -> None:
    entry = acme.entry("revocation")
    vc = issue(passport_credential(acme.did, [entry]), acme.store.signer(acme.key_id))
    policy = VC_API_POLICY.with_required("chain_consistency")
    good = _Chain(ChainVerdict(CheckStatus.PASS, "digest matches block 12"))
    result = await Verifier(fetcher=acme.fetcher, chain=good, policy=policy).verify(vc)
    assert result.verified
    assert good.seen == [entry["statusListCredential"]]
    bad = _Chain(ChainVerdict(CheckStatus.FAIL, "digest differs from chain"))
    result = await Verifier(fetcher=acme.fetcher, chain=bad, policy=policy).verify(vc)
    assert not result.verified
    assert _status(result, "chain_consistency") is CheckStatus.FAIL
    no_chain = await Verifier(fetcher=acme.fetcher, policy=policy).verify(vc)
    assert _status(no_chain, "chain_consistency") is CheckStatus.UNKNOWN
    assert not no_chain.verified


async def test_offline_snapshot_verifies_and_reports_its_age(acme: Org, tmp_path: Path) -> None:
    entry = acme.entry("revocation")
    vc = issue(passport_credential(acme.did, [entry]), acme.store.signer(acme.key_id))
    taken = datetime(2025, 6, 10, tzinfo=UTC)
    write_snapshot(
        tmp_path / "snap",
        acme.fetcher.documents(),
        taken_at=taken,
        issuers=[AccreditationRecord(acme.did, ("BatteryPassportCredential",))],
    )
    snap = Snapshot(tmp_path / "snap")
    verifier = Verifier(fetcher=snap, accreditation=snap, snapshot=snap, policy=PLATFORM_POLICY)
    now = taken + timedelta(hours=2)
    result = await verifier.verify(vc, at=now)
    assert result.verified, result.to_json()
    assert result.snapshot_age_s == 7200.0
    assert result.to_json()["snapshot_age_s"] == 7200.0
    # a credential type the registry does not list fails accreditation
    other = passport_credential(acme.did)
    other["type"] = ["VerifiableCredential", "BatteryInspectionCredential"]
    inspection = issue(other, acme.store.signer(acme.key_id))
    assert _status(await verifier.verify(inspection, at=now), "issuer_accredited") is (
        CheckStatus.FAIL
    )


async def test_snapshot_without_status_list_is_unknown(acme: Org, tmp_path: Path) -> None:
    entry = acme.entry("revocation")
    vc = issue(passport_credential(acme.did, [entry]), acme.store.signer(acme.key_id))
    documents = acme.fetcher.documents()
    del documents[entry["statusListCredential"]]
    snap = Snapshot(write_snapshot(tmp_path / "s", documents))
    result = await Verifier(fetcher=snap, snapshot=snap).verify(vc)
    assert _status(result, "status_revocation") is CheckStatus.UNKNOWN
    assert not result.verified


async def test_status_list_signed_by_someone_else_fails(acme: Org, verifier: Verifier) -> None:
    entry = acme.entry("revocation")
    vc = issue(passport_credential(acme.did, [entry]), acme.store.signer(acme.key_id))
    forged = copy.deepcopy(acme.fetcher.documents()[entry["statusListCredential"]])
    forged["credentialSubject"]["encodedList"] = (
        forged["credentialSubject"]["encodedList"][:-4] + "AAAA"
    )
    acme.fetcher.put(entry["statusListCredential"], forged)
    result = await verifier.verify(vc)
    assert _status(result, "status_revocation") is CheckStatus.FAIL
    assert not result.verified


def _clique_credential(issuer: str, size: int = 8) -> dict[str, Any]:
    nodes = [
        {"@id": f"_:n{i}", "knows": [{"@id": f"_:n{j}"} for j in range(size) if j != i]}
        for i in range(size)
    ]
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/examples/v2",
        ],
        "type": ["VerifiableCredential"],
        "issuer": issuer,
        "credentialSubject": {"id": "urn:x:1", "knows": nodes},
    }


async def test_poison_graph_is_refused_when_issuing_and_verifying(
    acme: Org, verifier: Verifier
) -> None:
    with pytest.raises(CanonicalizationError):
        issue(_clique_credential(acme.did), acme.store.signer(acme.key_id))
    # an attacker signs with a huge budget; the verifier's bound refuses it quickly
    small = _clique_credential(acme.did, size=5)
    signed = add_proof(
        small,
        acme.store.signer(acme.key_id),
        ProofOptions(verification_method=acme.key_id),
        max_work=10**6,
    )
    bounded = Verifier(fetcher=acme.fetcher, limits=Limits(max_rdfc_work=50))
    result = await bounded.verify(signed)
    check = result.check("signature")
    assert check is not None
    assert check.status is CheckStatus.FAIL
    assert "canonicalization_limit" in check.reason


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.__setitem__("proof", [d["proof"]] * 9),
        lambda d: d["credentialSubject"].__setitem__("deep", _nest(40)),
        lambda d: d.__setitem__("@context", ["https://evil.example/ctx"]),
        lambda d: d.__setitem__("credentialSubject", "text"),
    ],
    ids=["too-many-proofs", "too-deep", "unknown-context", "subject-not-object"],
)
async def test_hostile_input_is_refused_without_crashing(
    acme: Org, verifier: Verifier, mutate: Any
) -> None:
    vc = issue(passport_credential(acme.did), acme.store.signer(acme.key_id))
    mutate(vc)
    result = await verifier.verify(vc)
    assert not result.verified
    assert any(c.status is CheckStatus.FAIL for c in result.checks)


@pytest.mark.parametrize("document", [None, 5, [], {"type": "VerifiablePresentation"}])
async def test_non_credentials_fail_schema(verifier: Verifier, document: Any) -> None:
    result = await verifier.verify(document)
    assert not result.verified
    assert _status(result, "schema") is CheckStatus.FAIL


async def test_a_string_is_taken_as_a_vc_jwt_and_fails_its_signature(verifier: Verifier) -> None:
    result = await verifier.verify("text")
    assert not result.verified
    assert _status(result, "signature") is CheckStatus.FAIL


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"value": value}
    return value


async def test_zero_ttl_sees_revocation_at_once_and_reverifies_only_changed_lists(
    acme: Org,
) -> None:
    entry = acme.entry("revocation")
    vc = issue(passport_credential(acme.did, [entry]), acme.store.signer(acme.key_id))
    fetched: list[str] = []

    async def fetch(url: str) -> Any:
        fetched.append(url)
        return await acme.fetcher(url)

    verifier = Verifier(fetcher=fetch, status_list_ttl_s=0.0)
    assert (await verifier.verify(vc)).verified
    assert (await verifier.verify(vc)).verified
    assert fetched.count(entry["statusListCredential"]) == 2
    acme.set_status(entry, 1)  # republished: a new list credential text
    result = await verifier.verify(vc)
    assert _status(result, "status_revocation") is CheckStatus.FAIL
