"""Issuing: validate the data model, then sign with a Data Integrity proof."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from credentials.dataintegrity import Cryptosuite, ProofOptions, add_proof, parse_cryptosuite
from credentials.errors import DataModelError
from credentials.keys import Signer
from credentials.model import validate_credential, validate_presentation


def assign_issuer(credential: Mapping[str, Any], issuer_did: str) -> dict[str, Any]:
    """Fill in the signing organisation as issuer, or refuse another issuer.

    A missing ``issuer`` becomes ``issuer_did``; an issuer object without ``id`` gets
    ``id = issuer_did`` (its other members kept); an issuer equal to ``issuer_did`` is kept;
    anything else raises :class:`DataModelError` with rule ``issuer.mismatch`` (an
    organisation never issues as another one).
    """
    out = copy.deepcopy(dict(credential))
    if "issuer" not in out:
        out["issuer"] = issuer_did
        return out
    issuer = out["issuer"]
    if isinstance(issuer, dict):
        if "id" not in issuer:
            issuer["id"] = issuer_did
            return out
        if issuer["id"] == issuer_did:
            return out
    elif issuer == issuer_did:
        return out
    raise DataModelError("issuer.mismatch", f"this key may only issue as {issuer_did}")


def issue(
    credential: Mapping[str, Any],
    signer: Signer,
    verification_method: str | None = None,
    cryptosuite: Cryptosuite | str = Cryptosuite.ECDSA_RDFC_2019,
    *,
    created: str | None = None,
    proof_id: str | None = None,
    previous_proof: str | list[str] | None = None,
) -> dict[str, Any]:
    """Validate ``credential`` (VC Data Model 2.0) and return it with a new proof.

    ``verification_method`` defaults to ``signer.key_id``. The issuer must be the
    controller of the verification method (the DID before ``#``).
    """
    validate_credential(credential)
    vm = verification_method or signer.key_id
    issuer = credential["issuer"]
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if vm.split("#", 1)[0] != issuer_id:
        raise DataModelError(
            "issuer.key", f"verification method {vm} is not controlled by issuer {issuer_id}"
        )
    options = ProofOptions(
        cryptosuite=parse_cryptosuite(cryptosuite),
        verification_method=vm,
        created=created,
        proof_id=proof_id,
        previous_proof=previous_proof,
    )
    return add_proof(credential, signer, options)


def sign_presentation(
    presentation: Mapping[str, Any],
    signer: Signer,
    *,
    challenge: str | None = None,
    domain: str | None = None,
    verification_method: str | None = None,
    cryptosuite: Cryptosuite | str = Cryptosuite.ECDSA_RDFC_2019,
) -> dict[str, Any]:
    """Validate a presentation and add an ``authentication`` proof with challenge/domain."""
    validate_presentation(presentation)
    options = ProofOptions(
        cryptosuite=parse_cryptosuite(cryptosuite),
        verification_method=verification_method or signer.key_id,
        proof_purpose="authentication",
        challenge=challenge,
        domain=domain,
    )
    return add_proof(presentation, signer, options)
