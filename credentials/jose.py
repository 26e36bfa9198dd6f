"""VC-JOSE-COSE: credentials secured as compact JWS (``application/vc+jwt``).

The JWT payload *is* the credential (no ``vc`` claim); the protected header carries
``alg`` (ES256 / ES384 / EdDSA, pinned by the key's type — never ``none`` or HS*), ``typ``
``vc+jwt`` and ``kid`` (the issuer's verification method DID URL). Signing goes through the
:class:`~credentials.keys.Signer` protocol, so key-store keys never leave the store (a JOSE
library would need the private JWK).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from credentials.errors import CredentialError, ErrorCode, ProofError
from credentials.keys import KeyAlgorithm, PublicKey, Signer
from credentials.model import validate_credential
from credentials.multiformats import b64url_decode, b64url_encode

VC_JWT_TYP: Final = "vc+jwt"
VC_JWT_MEDIA_TYPE: Final = "application/vc+jwt"
ENVELOPED_PREFIX: Final = "data:application/vc+jwt,"
_ALG_BY_KEY: Final = {
    KeyAlgorithm.P256: "ES256",
    KeyAlgorithm.P384: "ES384",
    KeyAlgorithm.ED25519: "EdDSA",
}
MAX_JWT_BYTES: Final = 1_048_576


def issue_vc_jwt(credential: Mapping[str, Any], signer: Signer, kid: str | None = None) -> str:
    """Validate ``credential`` and return it secured as a compact ``vc+jwt``.

    ``kid`` defaults to ``signer.key_id`` and must belong to the credential's issuer.
    """
    validate_credential(credential)
    kid = kid or signer.key_id
    issuer = credential["issuer"]
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if kid.split("#", 1)[0] != issuer_id:
        raise ProofError(f"kid {kid} is not controlled by issuer {issuer_id}")
    header = {"alg": _ALG_BY_KEY[signer.algorithm], "kid": kid, "typ": VC_JWT_TYP}
    signing_input = (
        _b64json(header) + "." + b64url_encode(json.dumps(dict(credential)).encode("utf-8"))
    )
    signature = signer.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)


def envelope(jwt: str) -> dict[str, Any]:
    """An ``EnvelopedVerifiableCredential`` carrying ``jwt`` (for presentations / VC-API)."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": ENVELOPED_PREFIX + jwt,
        "type": "EnvelopedVerifiableCredential",
    }


def _b64json(value: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(dict(value), separators=(",", ":")).encode("utf-8"))


@dataclass(frozen=True, slots=True)
class ParsedJwt:
    """A compact JWS split into its parts (signature not yet checked)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_vc_jwt(token: str) -> ParsedJwt:
    """Split and decode a compact ``vc+jwt``; typed errors for anything malformed."""
    if not isinstance(token, str) or len(token) > MAX_JWT_BYTES:
        raise ProofError("a vc+jwt must be a compact JWS string of bounded size")
    parts = token.split(".")
    if len(parts) != 3:
        raise ProofError("a compact JWS has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (CredentialError, ValueError, UnicodeDecodeError):
        raise ProofError("JWS parts are not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ProofError("JWS header and payload must be JSON objects")
    if header.get("typ") != VC_JWT_TYP:
        raise ProofError(f"typ must be {VC_JWT_TYP}")
    if "crit" in header:
        raise ProofError("critical header parameters are not supported")
    if not isinstance(header.get("kid"), str) or "#" not in header["kid"]:
        raise ProofError("kid must be a DID URL of the issuer's verification method")
    if header.get("alg") not in _ALG_BY_KEY.values():
        raise ProofError(
            f"alg {header.get('alg')!r} is not allowed", code=ErrorCode.UNSUPPORTED_ALGORITHM
        )
    return ParsedJwt(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def check_jws_signature(parsed: ParsedJwt, public_key: PublicKey) -> tuple[bool, str]:
    """Check ``alg`` against the key's type (pinned) and the signature."""
    expected = _ALG_BY_KEY[public_key.algorithm]
    if parsed.header["alg"] != expected:
        return False, f"alg {parsed.header['alg']} does not match the {public_key.algorithm} key"
    if public_key.verify(parsed.signing_input, parsed.signature):
        return True, f"{VC_JWT_TYP} {expected} signature valid"
    return False, f"{VC_JWT_TYP} signature does not match"


def unwrap_enveloped(document: Any) -> str | None:
    """The JWT inside an ``EnvelopedVerifiableCredential`` with a ``vc+jwt`` data URL."""
    if not isinstance(document, dict):
        return None
    ident = document.get("id")
    if isinstance(ident, str) and ident.startswith(ENVELOPED_PREFIX):
        return ident[len(ENVELOPED_PREFIX) :]
    return None
