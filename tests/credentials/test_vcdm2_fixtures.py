"""The W3C VC Data Model 2.0 test-suite inputs: -ok accepted, -fail refused.

Credentials go through what the issue endpoint does before signing: ``assign_issuer`` with
the organisation's DID (a missing issuer, or an issuer object without ``id``, is filled),
then ``issue`` (validation + ecdsa-rdfc-2019) — so every -ok credential must also sign and
verify. Presentations go through ``validate_presentation``. As in the W3C harness, the
placeholders ``PAST DATE`` / ``FUTURE DATE`` are replaced by real dates first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from credentials.dataintegrity import proofs_of, verify_proof
from credentials.errors import CredentialError, DataModelError
from credentials.issuance import assign_issuer, issue
from credentials.model import validate_presentation
from credentials.verifier import CheckStatus, Verifier
from tests.conftest import SHARED_DIR
from tests.credentials.conftest import Org

FIXTURES = SHARED_DIR / "vectors" / "vcdm2-fixtures"
ALL = sorted(p.name for p in FIXTURES.glob("*.json"))
NO_EXPECTATION = {n for n in ALL if n.startswith("presentation-self-asserted-")}


def _load(name: str) -> Any:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    now = datetime.now(UTC).replace(microsecond=0)
    past = (now - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (now + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.loads(
        text.replace('"PAST DATE"', f'"{past}"').replace('"FUTURE DATE"', f'"{future}"')
    )


def _expect_ok(name: str) -> bool:
    return name.endswith("-ok.json")


CREDENTIALS = [n for n in ALL if n.startswith(("credential-", "issuer-"))]
PRESENTATIONS = [n for n in ALL if n.startswith("presentation-") and n not in NO_EXPECTATION]


def test_every_fixture_is_classified() -> None:
    assert len(ALL) == len(CREDENTIALS) + len(PRESENTATIONS) + len(NO_EXPECTATION)
    assert len(NO_EXPECTATION) == 4
    for name in CREDENTIALS + PRESENTATIONS:
        assert name.endswith(("-ok.json", "-fail.json", "-fail-or-inject.json"))


@pytest.mark.parametrize("name", CREDENTIALS)
async def test_credential_fixture(name: str, acme: Org, verifier: Verifier) -> None:
    document = _load(name)
    signer = acme.store.signer(acme.key_id)
    if _expect_ok(name):
        signed = issue(assign_issuer(document, acme.did), signer)
        ours = proofs_of(signed)[-1]
        public_key = acme.store.get(acme.key_id).public_key()
        assert verify_proof(signed, ours, public_key).verified
        result = await verifier.verify(signed)
        statuses = {c.name: c.status for c in result.checks}
        assert statuses["schema"] is CheckStatus.PASS
        # the fixture's own key-less proof (credential-proof-ok) makes a proof set whose
        # other member cannot verify; every other fixture's signature check passes
        expected = CheckStatus.FAIL if "proof" in document else CheckStatus.PASS
        assert statuses["signature"] is expected
    else:
        with pytest.raises(CredentialError) as info:
            issue(assign_issuer(document, acme.did), signer)
        assert isinstance(info.value, DataModelError)
        assert info.value.rule


@pytest.mark.parametrize("name", PRESENTATIONS)
def test_presentation_fixture(name: str) -> None:
    document = _load(name)
    if _expect_ok(name):
        validate_presentation(document)
    else:
        with pytest.raises(DataModelError):
            validate_presentation(document)


def test_issuer_of_another_organisation_is_refused(acme: Org) -> None:
    document = _load("credential-ok.json")
    document["issuer"] = "did:web:localhost%3A8000:orgs:other"
    with pytest.raises(DataModelError) as info:
        assign_issuer(document, acme.did)
    assert info.value.rule == "issuer.mismatch"


def test_fixture_names_cover_rules(tmp_path: Path) -> None:
    del tmp_path
    fails = [n for n in CREDENTIALS if not _expect_ok(n)]
    assert len(fails) >= 30
