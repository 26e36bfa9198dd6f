"""Data Integrity proofs: ``ecdsa-rdfc-2019`` (P-256, P-384), ``eddsa-rdfc-2022``,
``ecdsa-jcs-2019``, ``eddsa-jcs-2022``; proof sets and proof chains (``previousProof``).

The algorithm follows the cryptosuite specifications step by step:
transformation (RDFC-1.0 of the strictly expanded document, or JCS), proof configuration
(the proof options without ``proofValue``, with the document's ``@context``), hashing
(SHA-256; SHA-384 for P-384), ``hashData = proofHash || documentHash``, then signing.
Every intermediate value is exposed by :func:`hashing_steps` so the W3C vectors can be
checked one by one.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from credentials import jcs, jsonld, rdfc
from credentials.errors import ErrorCode, ProofError
from credentials.keys import KeyAlgorithm, PublicKey, Signer
from credentials.multiformats import multibase_decode, multibase_encode

DATA_INTEGRITY_PROOF: Final = "DataIntegrityProof"


class Cryptosuite(StrEnum):
    """Supported Data Integrity cryptosuites."""

    ECDSA_RDFC_2019 = "ecdsa-rdfc-2019"
    EDDSA_RDFC_2022 = "eddsa-rdfc-2022"
    ECDSA_JCS_2019 = "ecdsa-jcs-2019"
    EDDSA_JCS_2022 = "eddsa-jcs-2022"

    @property
    def is_jcs(self) -> bool:
        """True for the JCS (RFC 8785) suites, False for RDFC-1.0 ones."""
        return self in (Cryptosuite.ECDSA_JCS_2019, Cryptosuite.EDDSA_JCS_2022)

    def allows(self, algorithm: KeyAlgorithm) -> bool:
        """Whether keys of ``algorithm`` may be used with this suite."""
        if self in (Cryptosuite.EDDSA_RDFC_2022, Cryptosuite.EDDSA_JCS_2022):
            return algorithm is KeyAlgorithm.ED25519
        return algorithm in (KeyAlgorithm.P256, KeyAlgorithm.P384)


def parse_cryptosuite(value: object) -> Cryptosuite:
    """A :class:`Cryptosuite` from its name; typed error otherwise."""
    try:
        return Cryptosuite(str(value))
    except ValueError:
        raise ProofError(
            f"unsupported cryptosuite {value!r}", code=ErrorCode.UNSUPPORTED_CRYPTOSUITE
        ) from None


def _hash_for(algorithm: KeyAlgorithm) -> Any:
    return hashlib.sha384 if algorithm is KeyAlgorithm.P384 else hashlib.sha256


def xsd_datetime_now() -> str:
    """Current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class HashingSteps:
    """Every intermediate value of a proof computation (for vectors and debugging)."""

    canonical_document: str
    canonical_proof_config: str
    document_hash: bytes
    proof_config_hash: bytes

    @property
    def hash_data(self) -> bytes:
        """``proofConfigHash || documentHash`` — the bytes that are signed."""
        return self.proof_config_hash + self.document_hash


def canonicalize_json_ld(
    document: Mapping[str, Any], *, max_work: int = rdfc.DEFAULT_MAX_WORK
) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document (strict expansion, bundled contexts)."""
    quads = jsonld.to_quads(dict(document))
    return rdfc.canonicalize(quads, max_work=max_work).nquads


def _jcs(value: Any) -> str:
    return jcs.canonicalize(value)


def _proof_config(
    unsecured: Mapping[str, Any], proof: Mapping[str, Any], suite: Cryptosuite
) -> dict[str, Any]:
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    if suite.is_jcs:
        if "@context" in config:
            ctx = config["@context"]
            doc_ctx = unsecured.get("@context")
            ctx_list = ctx if isinstance(ctx, list) else [ctx]
            doc_list = doc_ctx if isinstance(doc_ctx, list) else [doc_ctx]
            if doc_list[: len(ctx_list)] != ctx_list:
                raise ProofError("proof @context is not a prefix of the document @context")
        elif "@context" in unsecured:
            config["@context"] = unsecured["@context"]
    elif "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    return config


def hashing_steps(
    unsecured: Mapping[str, Any],
    proof: Mapping[str, Any],
    suite: Cryptosuite,
    algorithm: KeyAlgorithm,
    *,
    max_work: int = rdfc.DEFAULT_MAX_WORK,
) -> HashingSteps:
    """Transformation, proof configuration and hashing for one proof.

    ``unsecured`` is the document as signed (with ``proof`` holding only the proofs this
    one chains to, or none); ``proof`` is the proof options/proof (``proofValue`` ignored).
    """
    config = _proof_config(unsecured, proof, suite)
    hasher = _hash_for(algorithm)
    if suite.is_jcs:
        canon_doc = _jcs(dict(unsecured))
        canon_proof = _jcs(config)
    else:
        canon_doc = canonicalize_json_ld(unsecured, max_work=max_work)
        canon_proof = canonicalize_json_ld(config, max_work=max_work)
    return HashingSteps(
        canonical_document=canon_doc,
        canonical_proof_config=canon_proof,
        document_hash=hasher(canon_doc.encode("utf-8")).digest(),
        proof_config_hash=hasher(canon_proof.encode("utf-8")).digest(),
    )


@dataclass(frozen=True, slots=True)
class ProofOptions:
    """Options for a new proof. ``created`` defaults to now; ``previous_proof`` chains."""

    cryptosuite: Cryptosuite = Cryptosuite.ECDSA_RDFC_2019
    verification_method: str | None = None
    proof_purpose: str = "assertionMethod"
    created: str | None = None
    expires: str | None = None
    domain: str | None = None
    challenge: str | None = None
    proof_id: str | None = None
    previous_proof: str | Sequence[str] | None = None
    include_created: bool = True


def proofs_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The proofs of a secured document as a list (empty if none)."""
    proof = document.get("proof")
    if proof is None:
        return []
    if isinstance(proof, dict):
        return [proof]
    if isinstance(proof, list) and all(isinstance(p, dict) for p in proof):
        return list(proof)
    raise ProofError("proof must be an object or a list of objects")


def _previous_ids(proof: Mapping[str, Any]) -> list[str]:
    prev = proof.get("previousProof")
    if prev is None:
        return []
    if isinstance(prev, str):
        return [prev]
    if isinstance(prev, list) and all(isinstance(p, str) for p in prev):
        return list(prev)
    raise ProofError("previousProof must be a string or a list of strings")


def _unsecured_for(document: Mapping[str, Any], proof: Mapping[str, Any]) -> dict[str, Any]:
    """The document a proof signs: no proofs, or only the proofs it chains to."""
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    wanted = _previous_ids(proof)
    if wanted:
        by_id = {p.get("id"): p for p in proofs_of(document)}
        missing = [w for w in wanted if w not in by_id]
        if missing:
            raise ProofError(f"previousProof {missing} not found in the proof set")
        chained = [by_id[w] for w in wanted]
        unsecured["proof"] = chained[0] if len(chained) == 1 else chained
    return unsecured


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, immutable scalars) several times cheaper
    than ``copy.deepcopy``; anything else inside is deep-copied the usual way."""
    cls = value.__class__
    if cls is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if cls is list:
        return [json_copy(item) for item in value]
    if cls is str or cls is int or cls is float or cls is bool or value is None:
        return value
    return copy.deepcopy(value)


def add_proof(
    document: Mapping[str, Any],
    signer: Signer,
    options: ProofOptions | None = None,
    *,
    max_work: int = rdfc.DEFAULT_MAX_WORK,
) -> dict[str, Any]:
    """Return a copy of ``document`` with a new Data Integrity proof appended.

    Existing proofs are kept (a proof set); with ``options.previous_proof`` the new proof
    also signs the proofs it names (a proof chain).
    """
    options = options or ProofOptions()
    suite = options.cryptosuite
    if not suite.allows(signer.algorithm):
        raise ProofError(
            f"{suite} cannot sign with a {signer.algorithm} key",
            code=ErrorCode.UNSUPPORTED_CRYPTOSUITE,
        )
    vm = options.verification_method or signer.key_id
    if not vm:
        raise ProofError("a verification method id is required to sign")
    proof: dict[str, Any] = {}
    if options.proof_id:
        proof["id"] = options.proof_id
    proof["type"] = DATA_INTEGRITY_PROOF
    proof["cryptosuite"] = suite.value
    if options.include_created:
        proof["created"] = options.created or xsd_datetime_now()
    if options.expires:
        proof["expires"] = options.expires
    proof["verificationMethod"] = vm
    proof["proofPurpose"] = options.proof_purpose
    if options.domain is not None:
        proof["domain"] = options.domain
    if options.challenge is not None:
        proof["challenge"] = options.challenge
    if options.previous_proof is not None:
        proof["previousProof"] = (
            options.previous_proof
            if isinstance(options.previous_proof, str)
            else list(options.previous_proof)
        )
    if suite.is_jcs and "@context" in document:
        # JCS suites sign the proof configuration as JSON, so the proof carries the
        # document's @context itself (as the W3C vectors show).
        proof["@context"] = json_copy(document["@context"])
    unsecured = _unsecured_for(document, proof)
    steps = hashing_steps(unsecured, proof, suite, signer.algorithm, max_work=max_work)
    proof["proofValue"] = multibase_encode(signer.sign(steps.hash_data), "z")
    secured: dict[str, Any] = json_copy(dict(document))
    existing = proofs_of(secured)
    secured["proof"] = [*existing, proof] if existing else proof
    return secured


@dataclass(frozen=True, slots=True)
class ProofVerification:
    """Outcome of checking one proof's cryptography (not its key's authorisation)."""

    verified: bool
    reason: str


def check_proof_shape(proof: Mapping[str, Any]) -> Cryptosuite:
    """Validate the generic DataIntegrityProof members; return its cryptosuite."""
    if proof.get("type") != DATA_INTEGRITY_PROOF:
        raise ProofError(f"unsupported proof type {proof.get('type')!r}")
    suite = parse_cryptosuite(proof.get("cryptosuite"))
    for member in ("verificationMethod", "proofPurpose", "proofValue"):
        if not isinstance(proof.get(member), str) or not proof[member]:
            raise ProofError(f"proof.{member} is missing or not a string")
    if not str(proof["proofValue"]).startswith("z"):
        raise ProofError("proofValue must be base58btc multibase ('z')")
    return suite


def verify_proof(
    document: Mapping[str, Any],
    proof: Mapping[str, Any],
    public_key: PublicKey,
    *,
    max_work: int = rdfc.DEFAULT_MAX_WORK,
) -> ProofVerification:
    """Verify one proof of ``document`` with an already resolved public key.

    Shape errors, a key of the wrong type and a bad signature give ``verified=False`` with
    a reason; RDFC work-bound and JSON-LD errors propagate as typed errors.
    """
    try:
        suite = check_proof_shape(proof)
    except ProofError as exc:
        return ProofVerification(False, exc.message)
    if not suite.allows(public_key.algorithm):
        return ProofVerification(False, f"{suite} does not accept {public_key.algorithm} keys")
    try:
        signature = multibase_decode(str(proof["proofValue"]))
    except Exception:
        return ProofVerification(False, "proofValue is not valid base58btc")
    unsecured = _unsecured_for(document, proof)
    steps = hashing_steps(unsecured, proof, suite, public_key.algorithm, max_work=max_work)
    if public_key.verify(steps.hash_data, signature):
        return ProofVerification(True, f"{suite} signature valid")
    return ProofVerification(False, f"{suite} signature does not match the document")
