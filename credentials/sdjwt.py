"""SD-JWT VC (``dc+sd-jwt``): issue with salted disclosures, present with key binding,
verify every disclosure and the key-binding JWT.

Scope: selectively disclosable *object properties* (at any depth); array elements are
always disclosed as issued. ``_sd_alg`` is ``sha-256``. Signatures go through the
:class:`~credentials.keys.Signer` protocol (ES256 / ES384 / EdDSA pinned by key type).
A ``status`` claim (IETF Token Status List reference) is checked by the verifier
(:mod:`credentials.tokenstatus`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from credentials import fastjson
from credentials.caching import SharedCache
from credentials.errors import ErrorCode, ProofError
from credentials.keys import KeyAlgorithm, PublicKey, Signer
from credentials.multiformats import b64url_decode, b64url_encode

SD_JWT_TYP: Final = "dc+sd-jwt"
KB_JWT_TYP: Final = "kb+jwt"
SD_ALG: Final = "sha-256"
MAX_SD_JWT_BYTES: Final = 1_048_576
MAX_DISCLOSURES: Final = 1024
_ALG_BY_KEY: Final = {
    KeyAlgorithm.P256: "ES256",
    KeyAlgorithm.P384: "ES384",
    KeyAlgorithm.ED25519: "EdDSA",
}
# SD-JWT VC: these registered claims must not be selectively disclosable
_ALWAYS_VISIBLE: Final = frozenset(
    {"iss", "vct", "vct#integrity", "cnf", "status", "iat", "nbf", "exp", "jti"}
)
_RESERVED_NAMES: Final = frozenset({"_sd", "...", "_sd_alg"})

Path = tuple[str, ...]


def _digest(disclosure: str) -> str:
    return b64url_encode(hashlib.sha256(disclosure.encode("ascii")).digest())


def _b64json(value: Any) -> str:
    return b64url_encode(fastjson.dumps(value))


class _Salts:
    """128-bit salts cut from ``os.urandom`` drawn in blocks: the same CSPRNG output as a
    ``secrets.token_bytes(16)`` per salt, without a system call per claim."""

    __slots__ = ("_block", "_offset")
    _BLOCK = 16 * 64

    def __init__(self) -> None:
        self._block = b""
        self._offset = 0

    def __call__(self) -> bytes:
        if self._offset + 16 > len(self._block):
            self._block, self._offset = os.urandom(self._BLOCK), 0
        start = self._offset
        self._offset = start + 16
        return self._block[start : start + 16]


def _sign_jwt(header: dict[str, Any], payload: dict[str, Any], signer: Signer) -> str:
    signing_input = _b64json(header) + "." + _b64json(payload)
    return signing_input + "." + b64url_encode(signer.sign(signing_input.encode("ascii")))


# --------------------------------------------------------------------------- issuing


def issue_sd_jwt_vc(
    claims: Mapping[str, Any],
    signer: Signer,
    *,
    vct: str,
    issuer: str,
    holder_jwk: Mapping[str, str] | None = None,
    disclosable: Collection[Path] | str = "all",
    decoys: int = 2,
    iat: int | None = None,
    nbf: int | None = None,
    exp: int | None = None,
    status: Mapping[str, Any] | None = None,
    jti: str | None = None,
) -> str:
    """Issue an SD-JWT VC: ``<issuer-signed JWT>~<disclosure>~...~``.

    ``disclosable="all"`` makes every object property selectively disclosable (at every
    depth) except the registered claims that must stay visible (``iss``, ``vct``, ``cnf``,
    ``status``, ``iat``, ``nbf``, ``exp``, ``jti``); otherwise give the property paths.
    ``holder_jwk`` becomes ``cnf.jwk`` (required for key binding).
    """
    if signer.key_id.split("#", 1)[0] != issuer:
        raise ProofError(f"kid {signer.key_id} is not controlled by issuer {issuer}")
    # (digest, disclosure): sorted by digest at the end, which orders the disclosures by
    # their salted hashes — a uniformly random order that hides the claims' original one
    disclosures: list[tuple[str, str]] = []
    salt = _Salts()
    everything = disclosable == "all"

    def wanted(path: Path) -> bool:
        if len(path) == 1 and path[0] in _ALWAYS_VISIBLE:
            return False
        return everything or path in disclosable

    def conceal(obj: Mapping[str, Any], path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in obj.items():
            if name in _RESERVED_NAMES:
                raise ProofError(f"claim name {name!r} is reserved by SD-JWT")
            inner = conceal(value, (*path, name)) if isinstance(value, dict) else value
            if wanted((*path, name)):
                disclosure = _b64json([b64url_encode(salt()), name, inner])
                digest = _digest(disclosure)
                disclosures.append((digest, disclosure))
                digests.append(digest)
            else:
                out[name] = inner
        if digests:
            digests.extend(_digest(b64url_encode(salt())) for _ in range(decoys))
            out["_sd"] = sorted(digests)
        return out

    payload = conceal(dict(claims), ())
    payload["iss"] = issuer
    payload["vct"] = vct
    payload["iat"] = int(time.time()) if iat is None else iat
    for claim, value in (("nbf", nbf), ("exp", exp), ("jti", jti)):
        if value is not None:
            payload[claim] = value
    if holder_jwk is not None:
        payload["cnf"] = {"jwk": dict(holder_jwk)}
    if status is not None:
        payload["status"] = dict(status)
    payload["_sd_alg"] = SD_ALG
    header = {"alg": _ALG_BY_KEY[signer.algorithm], "typ": SD_JWT_TYP, "kid": signer.key_id}
    disclosures.sort()
    return "~".join([_sign_jwt(header, payload, signer), *(d for _, d in disclosures)]) + "~"


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One decoded object-property disclosure."""

    raw: str
    digest: str
    salt: str
    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class _Jwt:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _parse_jwt(token: str, typ: str) -> _Jwt:
    parts = token.split(".")
    if len(parts) != 3:
        raise ProofError("a JWT has three dot-separated parts")
    try:
        header = fastjson.loads(b64url_decode(parts[0]))
        payload = fastjson.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError, ProofError):
        raise ProofError("JWT parts are not base64url JSON") from None
    except Exception:
        raise ProofError("JWT parts are not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ProofError("JWT header and payload must be objects")
    if header.get("typ") != typ:
        raise ProofError(f"typ must be {typ}")
    if "crit" in header:
        raise ProofError("critical header parameters are not supported")
    if header.get("alg") not in _ALG_BY_KEY.values():
        raise ProofError(
            f"alg {header.get('alg')!r} is not allowed", code=ErrorCode.UNSUPPORTED_ALGORITHM
        )
    return _Jwt(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _check_signature(jwt: _Jwt, key: PublicKey) -> bool:
    return jwt.header["alg"] == _ALG_BY_KEY[key.algorithm] and key.verify(
        jwt.signing_input, jwt.signature
    )


def _decode_disclosure(raw: str) -> Disclosure:
    try:
        value = fastjson.loads(b64url_decode(raw))
    except Exception:
        raise ProofError("a disclosure is not base64url JSON") from None
    if not isinstance(value, list) or len(value) != 3:
        raise ProofError("only object-property disclosures [salt, name, value] are supported")
    salt, name, claim = value
    if not isinstance(salt, str) or not isinstance(name, str):
        raise ProofError("disclosure salt and claim name must be strings")
    if name in _RESERVED_NAMES:
        raise ProofError(f"disclosure uses the reserved claim name {name!r}")
    return Disclosure(raw, _digest(raw), salt, name, claim)


@dataclass(frozen=True, slots=True)
class SdJwtParts:
    """A presentation split into issuer JWT, disclosures and (optional) KB-JWT."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    @property
    def sd_hash_input(self) -> str:
        """``<issuer-jwt>~<d1>~...~<dn>~`` — what the KB-JWT's ``sd_hash`` covers."""
        return "~".join([self.issuer_jwt, *self.disclosures]) + "~"


def split_sd_jwt(token: str) -> SdJwtParts:
    """Split ``<jwt>~<disclosures>~[<kb-jwt>]``; typed errors for malformed input."""
    if not isinstance(token, str) or len(token) > MAX_SD_JWT_BYTES or "~" not in token:
        raise ProofError("an SD-JWT is a '~'-separated string of bounded size")
    parts = token.split("~")
    if len(parts) - 2 > MAX_DISCLOSURES:
        raise ProofError("too many disclosures", code=ErrorCode.INPUT_TOO_LARGE)
    if any(not p for p in parts[1:-1]):
        raise ProofError("empty disclosure")
    return SdJwtParts(parts[0], tuple(parts[1:-1]), parts[-1] or None)


# --------------------------------------------------------------------------- holder


def _disclosure_paths(payload: Mapping[str, Any], disclosures: list[Disclosure]) -> dict[str, Path]:
    """digest -> property path for every disclosure reachable from the payload."""
    by_digest = {d.digest: d for d in disclosures}
    paths: dict[str, Path] = {}

    def walk(obj: Any, path: Path) -> None:
        if isinstance(obj, dict):
            for digest in obj.get("_sd", []) if isinstance(obj.get("_sd"), list) else []:
                found = by_digest.get(digest)
                if found is not None and digest not in paths:
                    paths[digest] = (*path, found.name)
                    walk(found.value, (*path, found.name))
            for name, value in obj.items():
                if name not in ("_sd", "_sd_alg"):
                    walk(value, (*path, name))
        elif isinstance(obj, list):
            for item in obj:
                walk(item, path)

    walk(payload, ())
    return paths


def present_sd_jwt(
    sd_jwt: str,
    disclose: Callable[[Path], bool] | Collection[Path],
    *,
    holder: Signer | None,
    nonce: str,
    aud: str,
    iat: int | None = None,
) -> str:
    """Keep the disclosures whose property path ``disclose`` selects (a property is only
    disclosed with all its ancestors) and append a key-binding JWT signed by ``holder``."""
    parts = split_sd_jwt(sd_jwt)
    issuer = _parse_jwt(parts.issuer_jwt, SD_JWT_TYP)
    decoded = [_decode_disclosure(raw) for raw in parts.disclosures]
    paths = _disclosure_paths(issuer.payload, decoded)
    choose = disclose if callable(disclose) else (lambda p: p in disclose)
    sd_paths = set(paths.values())
    chosen_paths = {p for p in sd_paths if choose(p)}

    def keep(path: Path) -> bool:
        # disclosed only with every selectively disclosable ancestor
        prefixes = (path[:i] for i in range(1, len(path) + 1))
        return all(prefix in chosen_paths for prefix in prefixes if prefix in sd_paths)

    kept = [d.raw for d in decoded if d.digest in paths and keep(paths[d.digest])]
    presented = SdJwtParts(parts.issuer_jwt, tuple(kept), None)
    if holder is None:
        return presented.sd_hash_input
    kb_payload = {
        "iat": int(time.time()) if iat is None else iat,
        "aud": aud,
        "nonce": nonce,
        "sd_hash": b64url_encode(hashlib.sha256(presented.sd_hash_input.encode("ascii")).digest()),
    }
    kb_header = {"alg": _ALG_BY_KEY[holder.algorithm], "typ": KB_JWT_TYP}
    return presented.sd_hash_input + _sign_jwt(kb_header, kb_payload, holder)


# --------------------------------------------------------------------------- verifying


@dataclass(slots=True)
class SdJwtVerification:
    """Outcome of the SD-JWT-specific steps; ``claims`` are the disclosed claims."""

    header: dict[str, Any]
    payload: dict[str, Any]
    claims: dict[str, Any] = field(default_factory=dict)
    disclosures_ok: bool = False
    disclosures_reason: str = ""
    key_binding: str = "skipped"  # "pass" | "fail" | "skipped"
    key_binding_reason: str = "no key binding requested"


@dataclass(frozen=True, slots=True)
class ParsedSdJwt:
    """An SD-JWT split and its issuer JWT decoded once (signature not checked yet), for
    the verifier's several steps."""

    parts: SdJwtParts
    jwt: _Jwt

    @property
    def header(self) -> dict[str, Any]:
        """The issuer JWT's protected header."""
        return self.jwt.header

    @property
    def payload(self) -> dict[str, Any]:
        """The issuer JWT's payload (with ``_sd`` digests, before disclosures)."""
        return self.jwt.payload

    def issuer_signature_ok(self, key: PublicKey) -> bool:
        """Whether the issuer-signed JWT verifies with ``key`` (``alg`` pinned to its type)."""
        return _check_signature(self.jwt, key)


def parse_sd_jwt(token: str) -> ParsedSdJwt:
    """Split the SD-JWT and decode the issuer JWT; typed errors for malformed input."""
    parts = split_sd_jwt(token)
    return ParsedSdJwt(parts, _parse_jwt(parts.issuer_jwt, SD_JWT_TYP))


def parse_issuer_jwt(token: str) -> tuple[SdJwtParts, dict[str, Any], dict[str, Any]]:
    """Split the SD-JWT and decode the issuer JWT (signature not checked here)."""
    parsed = parse_sd_jwt(token)
    return parsed.parts, parsed.header, parsed.payload


def check_issuer_signature(token: str, key: PublicKey) -> bool:
    """Whether the issuer-signed JWT verifies with ``key`` (``alg`` pinned to its type)."""
    return parse_sd_jwt(token).issuer_signature_ok(key)


def process_disclosures(
    token: str | ParsedSdJwt,
    *,
    nonce: str | None,
    aud: str | None,
    now: float,
    require_key_binding: bool,
    max_kb_age_s: float = 300.0,
) -> SdJwtVerification:
    """Check and apply every disclosure, then the key-binding JWT."""
    parsed = parse_sd_jwt(token) if isinstance(token, str) else token
    parts, issuer = parsed.parts, parsed.jwt
    result = SdJwtVerification(issuer.header, issuer.payload)
    try:
        result.claims = _apply_disclosures(issuer.payload, parts.disclosures)
        result.disclosures_ok = True
        result.disclosures_reason = f"{len(parts.disclosures)} disclosures hashed and placed"
    except ProofError as exc:
        result.disclosures_reason = exc.message
    _check_key_binding(
        result,
        parts,
        nonce=nonce,
        aud=aud,
        now=now,
        required=require_key_binding,
        max_age=max_kb_age_s,
    )
    return result


def _apply_disclosures(payload: Mapping[str, Any], raws: tuple[str, ...]) -> dict[str, Any]:
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise ProofError(f"_sd_alg {payload.get('_sd_alg')!r} is not supported")
    decoded = [_decode_disclosure(raw) for raw in raws]
    by_digest: dict[str, Disclosure] = {}
    for disclosure in decoded:
        if disclosure.digest in by_digest:
            raise ProofError("the same disclosure appears twice")
        by_digest[disclosure.digest] = disclosure
    used: set[str] = set()
    seen_digests: set[str] = set()

    def resolve(obj: Any) -> Any:
        # scalars are returned as they are without a call (most values are scalars)
        if isinstance(obj, list):
            return [resolve(item) if isinstance(item, dict | list) else item for item in obj]
        if not isinstance(obj, dict):
            return obj
        out: dict[str, Any] = {}
        for name, value in obj.items():
            if name in {"_sd", "_sd_alg"}:
                continue
            out[name] = resolve(value) if isinstance(value, dict | list) else value
        digests = obj.get("_sd", [])
        if not isinstance(digests, list):
            raise ProofError("_sd must be an array of digests")
        for digest in digests:
            if not isinstance(digest, str):
                raise ProofError("_sd must be an array of digests")
            if digest in seen_digests:
                raise ProofError("a digest appears more than once in the SD-JWT")
            seen_digests.add(digest)
            disclosure = by_digest.get(digest)
            if disclosure is None:
                continue  # undisclosed claim or decoy
            if disclosure.name in out:
                raise ProofError(f"disclosed claim {disclosure.name!r} already exists")
            used.add(digest)
            value = disclosure.value
            out[disclosure.name] = resolve(value) if isinstance(value, dict | list) else value
        return out

    claims: dict[str, Any] = resolve(dict(payload))
    unused = set(by_digest) - used
    if unused:
        raise ProofError(f"{len(unused)} disclosure(s) are not referenced by the SD-JWT")
    return claims


_HOLDER_KEYS: Final = SharedCache(maxsize=1024)


def _holder_key(jwk: dict[str, Any]) -> PublicKey:
    """``PublicKey.from_jwk`` remembered by the JWK's exact (key-sorted) JSON: a holder
    presents many times with one key."""
    text = orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS)
    key: PublicKey | None = _HOLDER_KEYS.get(text)
    if key is None:
        key = PublicKey.from_jwk(jwk)
        _HOLDER_KEYS.put(text, key)
    return key


def _check_key_binding(
    result: SdJwtVerification,
    parts: SdJwtParts,
    *,
    nonce: str | None,
    aud: str | None,
    now: float,
    required: bool,
    max_age: float,
) -> None:
    if parts.kb_jwt is None:
        if required:
            result.key_binding, result.key_binding_reason = "fail", "key-binding JWT missing"
        return
    try:
        kb = _parse_jwt(parts.kb_jwt, KB_JWT_TYP)
        cnf = result.payload.get("cnf")
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        if not isinstance(jwk, dict):
            raise ProofError("the SD-JWT has no cnf.jwk to bind to")
        key = _holder_key(jwk)
    except ProofError as exc:
        result.key_binding, result.key_binding_reason = "fail", exc.message
        return
    except Exception:
        result.key_binding, result.key_binding_reason = "fail", "cnf.jwk is not a usable key"
        return
    expected_hash = b64url_encode(hashlib.sha256(parts.sd_hash_input.encode("ascii")).digest())
    problems = []
    if not _check_signature(kb, key):
        problems.append("key-binding JWT signature does not match cnf.jwk")
    if kb.payload.get("sd_hash") != expected_hash:
        problems.append("sd_hash does not match the presented SD-JWT")
    if nonce is not None and kb.payload.get("nonce") != nonce:
        problems.append("nonce does not match")
    if aud is not None and kb.payload.get("aud") != aud:
        problems.append("aud does not match")
    issued_at = kb.payload.get("iat")
    if not isinstance(issued_at, int | float) or abs(now - issued_at) > max_age:
        problems.append("key-binding JWT iat is missing or not recent")
    if problems:
        result.key_binding, result.key_binding_reason = "fail", "; ".join(problems)
    else:
        unchecked = [name for name, want in (("nonce", nonce), ("aud", aud)) if want is None]
        note = f" ({' and '.join(unchecked)} not checked: none expected)" if unchecked else ""
        result.key_binding = "pass"
        result.key_binding_reason = "bound to the holder's cnf key" + note
