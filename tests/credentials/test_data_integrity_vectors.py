"""The W3C Data Integrity vectors (vc-di-ecdsa, vc-di-eddsa): every intermediate value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from credentials.dataintegrity import (
    Cryptosuite,
    ProofOptions,
    add_proof,
    hashing_steps,
    verify_proof,
)
from credentials.did import did_key_vm_id, resolve_did_key
from credentials.keys import KeyPair, PublicKey
from tests.conftest import SHARED_DIR
from tests.credentials.conftest import load_json

DI = SHARED_DIR / "vectors" / "w3c-di"


@dataclass(frozen=True)
class Vector:
    folder: str
    signed: str
    key_file: str
    suite: Cryptosuite
    suffix: str  # file name stem shared by the intermediate files

    def path(self, name: str) -> Path:
        return DI / self.folder / name

    def text(self, prefix: str) -> str:
        return self.path(f"{prefix}{self.suffix}.txt").read_text(encoding="utf-8")


VECTORS = [
    Vector(
        "vc-di-ecdsa/ecdsa-rdfc-2019-p256",
        "signedECDSAP256.json",
        "vc-di-ecdsa/p256KeyPair.json",
        Cryptosuite.ECDSA_RDFC_2019,
        "ECDSAP256",
    ),
    Vector(
        "vc-di-ecdsa/ecdsa-rdfc-2019-p384",
        "signedECDSAP384.json",
        "vc-di-ecdsa/p384KeyPair.json",
        Cryptosuite.ECDSA_RDFC_2019,
        "ECDSAP384",
    ),
    Vector(
        "vc-di-ecdsa/ecdsa-jcs-2019-p256",
        "signedJCSECDSAP256.json",
        "vc-di-ecdsa/p256KeyPair.json",
        Cryptosuite.ECDSA_JCS_2019,
        "JCSECDSAP256",
    ),
    Vector(
        "vc-di-eddsa/eddsa-rdfc-2022",
        "signedDataInt.json",
        "vc-di-eddsa/keyPair.json",
        Cryptosuite.EDDSA_RDFC_2022,
        "DataInt",
    ),
    Vector(
        "vc-di-eddsa/eddsa-jcs-2022",
        "signedJCS.json",
        "vc-di-eddsa/keyPair.json",
        Cryptosuite.EDDSA_JCS_2022,
        "JCS",
    ),
]


def _public(vector: Vector) -> PublicKey:
    return PublicKey.from_multikey(load_json(DI / vector.key_file)["publicKeyMultibase"])


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.folder)
def test_every_intermediate_value_matches(vector: Vector) -> None:
    signed = load_json(vector.path(vector.signed))
    proof = signed["proof"]
    unsecured = {k: v for k, v in signed.items() if k != "proof"}
    config_file = next(vector.path("").glob("proofConfig*.json"))
    config = load_json(config_file)
    assert {k: v for k, v in proof.items() if k != "proofValue"} | {
        "@context": config["@context"]
    } == config
    steps = hashing_steps(unsecured, proof, vector.suite, _public(vector).algorithm)
    assert steps.canonical_document == vector.text("canonDoc")
    assert steps.canonical_proof_config == vector.text("proofCanon")
    assert steps.document_hash.hex() == vector.text("docHash").strip()
    assert steps.proof_config_hash.hex() == vector.text("proofHash").strip()
    assert steps.hash_data.hex() == vector.text("combinedHash").strip()


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.folder)
def test_given_signature_verifies(vector: Vector) -> None:
    signed = load_json(vector.path(vector.signed))
    assert proof_hex(signed["proof"]["proofValue"]) == vector.text("sigHex").strip()
    assert signed["proof"]["proofValue"] == vector.text("sigBTC58").strip()
    result = verify_proof(signed, signed["proof"], _public(vector))
    assert result.verified, result.reason


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.folder)
def test_changed_subject_value_fails(vector: Vector) -> None:
    signed = load_json(vector.path(vector.signed))
    signed["credentialSubject"]["alumniOf"] = "The School of Forgeries"
    assert not verify_proof(signed, signed["proof"], _public(vector)).verified


def proof_hex(proof_value: str) -> str:
    from credentials.multiformats import multibase_decode

    return multibase_decode(proof_value).hex()


@pytest.mark.parametrize(
    ("folder", "suite"),
    [
        ("vc-di-eddsa/eddsa-rdfc-2022", Cryptosuite.EDDSA_RDFC_2022),
        ("vc-di-eddsa/eddsa-jcs-2022", Cryptosuite.EDDSA_JCS_2022),
    ],
)
def test_eddsa_signing_reproduces_the_vector_exactly(folder: str, suite: Cryptosuite) -> None:
    keys = load_json(DI / "vc-di-eddsa" / "keyPair.json")
    pair = KeyPair.from_secret_multikey(keys["privateKeyMultibase"])
    assert pair.public_multikey == keys["publicKeyMultibase"]
    unsigned = load_json(DI / "vc-di-eddsa" / "unsigned.json")
    config = load_json(next((DI / folder).glob("proofConfig*.json")))
    expected = load_json(next((DI / folder).glob("signed*.json")))
    secured = add_proof(
        unsigned,
        pair,
        ProofOptions(
            cryptosuite=suite,
            verification_method=config["verificationMethod"],
            created=config["created"],
        ),
    )
    assert secured["proof"]["proofValue"] == expected["proof"]["proofValue"]
    assert secured == expected


def test_secret_multikeys_give_the_published_public_keys() -> None:
    for name in ("p256KeyPair.json", "p384KeyPair.json"):
        keys = load_json(DI / "vc-di-ecdsa" / name)
        pair = KeyPair.from_secret_multikey(keys["secretKeyMultibase"])
        assert pair.public_multikey == keys["publicKeyMultibase"]


def test_vector_did_key_resolves_to_its_multikey() -> None:
    keys = load_json(DI / "vc-di-ecdsa" / "p256KeyPair.json")
    did = f"did:key:{keys['publicKeyMultibase']}"
    document = resolve_did_key(did)
    assert document["verificationMethod"][0]["id"] == did_key_vm_id(did)
    assert document["assertionMethod"] == [did_key_vm_id(did)]
