"""VC-JOSE-COSE: credentials secured as compact JWS (``application/vc+jwt``).

The JWT payload *is* the credential (no ``vc`` claim); the protected header carries
``alg`` (ES256 / ES384 / EdDSA, pinned by the key's type — never ``none`` or HS*), ``typ``
``vc+jwt`` and ``kid`` (the issuer's verification method DID URL). Signing goes through the
:class:`~credentials.keys.Signer` protocol, so key-store keys never leave the store (a JOSE
library would need the private JWK).

Presentations: :func:`issue_vp_jwt` is the holder's side of ``vp+jwt`` (payload = the
presentation plus ``nonce`` / ``aud``; ``kid`` of the ``holder``, checked for
``authentication``). :func:`unwrap_enveloped` also opens ``dc+sd-jwt`` and ``vp+jwt`` data
URLs, so every secured form can travel as an enveloped JSON object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from credentials import fastjson
from credentials.errors import CredentialError, ErrorCode, ProofError
from credentials.keys import KeyAlgorithm, PublicKey, Signer
from credentials.model import validate_credential, validate_presentation
from credentials.multiformats import b64url_decode, b64url_encode

VC_JWT_TYP: Final = "vc+jwt"
VP_JWT_TYP: Final = "vp+jwt"
VC_JWT_MEDIA_TYPE: Final = "application/vc+jwt"
ENVELOPED_PREFIX: Final = "data:application/vc+jwt,"
ENVELOPED_VP_PREFIX: Final = "data:application/vp+jwt,"
ENVELOPED_SD_JWT_PREFIX: Final = "data:application/dc+sd-jwt,"
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
    signing_input = _b64json(header) + "." + b64url_encode(fastjson.dumps(dict(credential)))
    signature = signer.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)


def envelope(jwt: str, prefix: str = ENVELOPED_PREFIX) -> dict[str, Any]:
    """An ``EnvelopedVerifiableCredential`` carrying ``jwt`` (for presentations / VC-API);
    ``prefix=ENVELOPED_SD_JWT_PREFIX`` envelopes an SD-JWT VC the same way."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": prefix + jwt,
        "type": "EnvelopedVerifiableCredential",
    }


def issue_vp_jwt(
    presentation: Mapping[str, Any],
    signer: Signer,
    *,
    nonce: str | None = None,
    aud: str | None = None,
    kid: str | None = None,
) -> str:
    """The holder's side: ``presentation`` secured as a compact ``vp+jwt``.

    The payload is the presentation itself plus the JWT claims ``nonce`` (the verifier's
    challenge) and ``aud`` (its domain) when given; ``kid`` (default ``signer.key_id``) must
    belong to the presentation's ``holder``, which is therefore required.
    """
    validate_presentation(presentation)
    kid = kid or signer.key_id
    holder = presentation.get("holder")
    holder_id = holder.get("id") if isinstance(holder, dict) else holder
    if not isinstance(holder_id, str) or kid.split("#", 1)[0] != holder_id:
        raise ProofError(f"kid {kid} is not controlled by the holder {holder_id}")
    payload = dict(presentation)
    for claim, value in (("nonce", nonce), ("aud", aud)):
        if claim in payload:
            raise ProofError(f"the presentation already has a {claim!r} member")
        if value is not None:
            payload[claim] = value
    header = {"alg": _ALG_BY_KEY[signer.algorithm], "kid": kid, "typ": VP_JWT_TYP}
    signing_input = _b64json(header) + "." + b64url_encode(fastjson.dumps(payload))
    return signing_input + "." + b64url_encode(signer.sign(signing_input.encode("ascii")))


def jwt_typ(token: str) -> str | None:
    """The ``typ`` of a compact JWS's header (None when it is not one): picks the verifier."""
    head = token.split(".", 1)[0]
    try:
        header = fastjson.loads(b64url_decode(head))
    except Exception:
        return None
    typ = header.get("typ") if isinstance(header, dict) else None
    return typ if isinstance(typ, str) else None


def _b64json(value: Mapping[str, Any]) -> str:
    return b64url_encode(fastjson.dumps(dict(value)))


@dataclass(frozen=True, slots=True)
class ParsedJwt:
    """A compact JWS split into its parts (signature not yet checked)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_vc_jwt(token: str, typ: str = VC_JWT_TYP) -> ParsedJwt:
    """Split and decode a compact ``vc+jwt`` (or ``vp+jwt`` with ``typ``); typed errors for
    anything malformed."""
    if not isinstance(token, str) or len(token) > MAX_JWT_BYTES:
        raise ProofError(f"a {typ} must be a compact JWS string of bounded size")
    parts = token.split(".")
    if len(parts) != 3:
        raise ProofError("a compact JWS has three dot-separated parts")
    try:
        header = fastjson.loads(b64url_decode(parts[0]))
        payload = fastjson.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (CredentialError, ValueError, UnicodeDecodeError):
        raise ProofError("JWS parts are not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ProofError("JWS header and payload must be JSON objects")
    if header.get("typ") != typ:
        raise ProofError(f"typ must be {typ}")
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
    typ = parsed.header.get("typ")
    if public_key.verify(parsed.signing_input, parsed.signature):
        return True, f"{typ} {expected} signature valid"
    return False, f"{typ} signature does not match"


def unwrap_enveloped(document: Any) -> str | None:
    """The token inside an ``EnvelopedVerifiableCredential`` (``vc+jwt`` or ``dc+sd-jwt``
    data URL) or ``EnvelopedVerifiablePresentation`` (``vp+jwt``)."""
    if not isinstance(document, dict):
        return None
    ident = document.get("id")
    if not isinstance(ident, str):
        return None
    for prefix in (ENVELOPED_PREFIX, ENVELOPED_SD_JWT_PREFIX, ENVELOPED_VP_PREFIX):
        if ident.startswith(prefix):
            return ident[len(prefix) :]
    return None
