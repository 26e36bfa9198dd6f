"""Key pairs (P-256, P-384, Ed25519), Multikey and JWK encodings, and the Signer protocol.

ECDSA signatures are IEEE P1363 ``r || s`` (what Data Integrity and JOSE use), computed
over the message with SHA-256 (P-256) or SHA-384 (P-384); Ed25519 is pure EdDSA.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from credentials import multiformats as mf
from credentials.errors import ErrorCode, KeyMaterialError


class KeyAlgorithm(StrEnum):
    """Key types the library signs and verifies with (JWK ``crv`` names)."""

    P256 = "P-256"
    P384 = "P-384"
    ED25519 = "Ed25519"

    @property
    def jws_alg(self) -> str:
        """The JOSE ``alg`` for this key type."""
        return _JWS_ALG[self]


_JWS_ALG: Final = {
    KeyAlgorithm.P256: "ES256",
    KeyAlgorithm.P384: "ES384",
    KeyAlgorithm.ED25519: "EdDSA",
}
_CURVES: Final[dict[KeyAlgorithm, ec.EllipticCurve]] = {
    KeyAlgorithm.P256: ec.SECP256R1(),
    KeyAlgorithm.P384: ec.SECP384R1(),
}
_HASHES: Final[dict[KeyAlgorithm, hashes.HashAlgorithm]] = {
    KeyAlgorithm.P256: hashes.SHA256(),
    KeyAlgorithm.P384: hashes.SHA384(),
}
_COORD_LEN: Final = {KeyAlgorithm.P256: 32, KeyAlgorithm.P384: 48}
_PUB_PREFIX: Final = {
    KeyAlgorithm.P256: mf.P256_PUB,
    KeyAlgorithm.P384: mf.P384_PUB,
    KeyAlgorithm.ED25519: mf.ED25519_PUB,
}
_PRIV_PREFIX: Final = {
    KeyAlgorithm.P256: mf.P256_PRIV,
    KeyAlgorithm.P384: mf.P384_PRIV,
    KeyAlgorithm.ED25519: mf.ED25519_PRIV,
}

_PublicKeyObj = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
_PrivateKeyObj = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def parse_algorithm(value: str) -> KeyAlgorithm:
    """``KeyAlgorithm`` from its name (``P-256``, ``P-384``, ``Ed25519``); typed error otherwise."""
    try:
        return KeyAlgorithm(value)
    except ValueError:
        raise KeyMaterialError(
            f"unsupported key algorithm {value!r}", code=ErrorCode.UNSUPPORTED_ALGORITHM
        ) from None


@dataclass(frozen=True, slots=True, eq=False)
class PublicKey:
    """A public key with its algorithm; verifies signatures and encodes itself."""

    algorithm: KeyAlgorithm
    key: _PublicKeyObj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.raw_bytes() == other.raw_bytes()

    def __hash__(self) -> int:
        return hash(self.raw_bytes())

    def raw_bytes(self) -> bytes:
        """Compressed SEC1 point (ECDSA) or the 32 raw bytes (Ed25519)."""
        if isinstance(self.key, ed25519.Ed25519PublicKey):
            return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return self.key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )

    def multikey(self) -> str:
        """``publicKeyMultibase`` value: multicodec prefix + key, base58btc."""
        return mf.multibase_encode(_PUB_PREFIX[self.algorithm] + self.raw_bytes())

    def jwk(self) -> dict[str, str]:
        """Public JWK (RFC 7517 / RFC 8037)."""
        if isinstance(self.key, ed25519.Ed25519PublicKey):
            return {"kty": "OKP", "crv": "Ed25519", "x": mf.b64url_encode(self.raw_bytes())}
        numbers = self.key.public_numbers()
        size = _COORD_LEN[self.algorithm]
        return {
            "kty": "EC",
            "crv": self.algorithm.value,
            "x": mf.b64url_encode(numbers.x.to_bytes(size, "big")),
            "y": mf.b64url_encode(numbers.y.to_bytes(size, "big")),
        }

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if ``signature`` (P1363 ``r||s`` or raw Ed25519) signs ``data``."""
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
                return True
            size = _COORD_LEN[self.algorithm]
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            self.key.verify(encode_dss_signature(r, s), data, ec.ECDSA(_HASHES[self.algorithm]))
            return True
        except InvalidSignature:
            return False

    @classmethod
    def from_multikey(cls, value: str) -> PublicKey:
        """Decode a ``publicKeyMultibase`` (P-256, P-384 or Ed25519 multicodec)."""
        raw = mf.multibase_decode(value)
        for algorithm, prefix in _PUB_PREFIX.items():
            if raw.startswith(prefix):
                return cls.from_raw(algorithm, raw[len(prefix) :])
        raise KeyMaterialError(
            "publicKeyMultibase has an unsupported multicodec prefix",
            code=ErrorCode.UNSUPPORTED_ALGORITHM,
        )

    @classmethod
    def from_raw(cls, algorithm: KeyAlgorithm, raw: bytes) -> PublicKey:
        """From compressed/uncompressed SEC1 bytes (ECDSA) or 32 raw bytes (Ed25519)."""
        try:
            if algorithm is KeyAlgorithm.ED25519:
                if len(raw) != 32:
                    raise ValueError("Ed25519 public key must be 32 bytes")
                return cls(algorithm, ed25519.Ed25519PublicKey.from_public_bytes(raw))
            return cls(
                algorithm, ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[algorithm], raw)
            )
        except ValueError as exc:
            raise KeyMaterialError(f"invalid {algorithm} public key: {exc}") from None

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> PublicKey:
        """From a public JWK (EC P-256/P-384 or OKP Ed25519); private members are ignored."""
        if not isinstance(jwk, dict):
            raise KeyMaterialError("JWK must be an object")
        kty, crv = jwk.get("kty"), jwk.get("crv")
        try:
            if kty == "OKP" and crv == "Ed25519":
                return cls.from_raw(KeyAlgorithm.ED25519, mf.b64url_decode(str(jwk["x"])))
            if kty == "EC" and crv in ("P-256", "P-384"):
                algorithm = KeyAlgorithm(crv)
                x = mf.b64url_decode(str(jwk["x"]))
                y = mf.b64url_decode(str(jwk["y"]))
                size = _COORD_LEN[algorithm]
                if len(x) != size or len(y) != size:
                    raise KeyMaterialError("JWK coordinates have the wrong length")
                return cls.from_raw(algorithm, b"\x04" + x + y)
        except KeyError as exc:
            raise KeyMaterialError(f"JWK lacks member {exc}") from None
        raise KeyMaterialError(
            f"unsupported JWK kty={kty!r} crv={crv!r}", code=ErrorCode.UNSUPPORTED_ALGORITHM
        )


@runtime_checkable
class Signer(Protocol):
    """Anything that signs with one key: a local key pair, a key store entry, a KMS key.

    ``key_id`` is the verification method id (a DID URL) when known, else ``""``.
    """

    @property
    def key_id(self) -> str:
        """Verification method id this signer signs as."""
        ...

    @property
    def algorithm(self) -> KeyAlgorithm:
        """Key type."""
        ...

    @property
    def public_multikey(self) -> str:
        """``publicKeyMultibase`` of the public key."""
        ...

    @property
    def public_jwk(self) -> dict[str, str]:
        """Public JWK of the public key."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Signature over ``data`` (ECDSA P1363 with the curve's hash, or Ed25519)."""
        ...


class KeyPair:
    """An in-memory key pair. Implements :class:`Signer`.

    The private key is only exposed through :meth:`export_secret_multikey`, which the key
    store uses to encrypt it at rest.
    """

    __slots__ = ("_key_id", "_private", "public")

    def __init__(self, private: _PrivateKeyObj, algorithm: KeyAlgorithm, key_id: str = "") -> None:
        self._private = private
        self._key_id = key_id
        self.public = PublicKey(algorithm, private.public_key())

    @classmethod
    def generate(cls, algorithm: KeyAlgorithm | str, key_id: str = "") -> KeyPair:
        """A fresh random key pair."""
        algorithm = parse_algorithm(str(algorithm))
        if algorithm is KeyAlgorithm.ED25519:
            return cls(ed25519.Ed25519PrivateKey.generate(), algorithm, key_id)
        return cls(ec.generate_private_key(_CURVES[algorithm]), algorithm, key_id)

    @classmethod
    def from_secret_multikey(cls, value: str, key_id: str = "") -> KeyPair:
        """From a ``secretKeyMultibase`` (multicodec P-256/P-384/Ed25519 private key)."""
        raw = mf.multibase_decode(value)
        for algorithm, prefix in _PRIV_PREFIX.items():
            if raw.startswith(prefix):
                secret = raw[len(prefix) :]
                try:
                    if algorithm is KeyAlgorithm.ED25519:
                        return cls(
                            ed25519.Ed25519PrivateKey.from_private_bytes(secret), algorithm, key_id
                        )
                    if len(secret) != _COORD_LEN[algorithm]:
                        raise ValueError("wrong secret length")
                    private = ec.derive_private_key(
                        int.from_bytes(secret, "big"), _CURVES[algorithm]
                    )
                except ValueError as exc:
                    raise KeyMaterialError(f"invalid {algorithm} secret key: {exc}") from None
                return cls(private, algorithm, key_id)
        raise KeyMaterialError(
            "secretKeyMultibase has an unsupported multicodec prefix",
            code=ErrorCode.UNSUPPORTED_ALGORITHM,
        )

    def with_key_id(self, key_id: str) -> KeyPair:
        """The same key pair, signing as ``key_id``."""
        return KeyPair(self._private, self.public.algorithm, key_id)

    def export_secret_multikey(self) -> str:
        """``secretKeyMultibase`` of the private key (for encrypted storage only)."""
        if isinstance(self._private, ed25519.Ed25519PrivateKey):
            secret = self._private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        else:
            size = _COORD_LEN[self.public.algorithm]
            secret = self._private.private_numbers().private_value.to_bytes(size, "big")
        return mf.multibase_encode(_PRIV_PREFIX[self.public.algorithm] + secret)

    @property
    def key_id(self) -> str:
        """Verification method id this key signs as."""
        return self._key_id

    @property
    def algorithm(self) -> KeyAlgorithm:
        """Key type."""
        return self.public.algorithm

    @property
    def public_multikey(self) -> str:
        """``publicKeyMultibase`` of the public key."""
        return self.public.multikey()

    @property
    def public_jwk(self) -> dict[str, str]:
        """Public JWK."""
        return self.public.jwk()

    def sign(self, data: bytes) -> bytes:
        """Sign ``data``: ECDSA (P1363 ``r||s``) with SHA-256/384, or Ed25519."""
        if isinstance(self._private, ed25519.Ed25519PrivateKey):
            return self._private.sign(data)
        algorithm = self.public.algorithm
        der = self._private.sign(data, ec.ECDSA(_HASHES[algorithm]))
        r, s = decode_dss_signature(der)
        size = _COORD_LEN[algorithm]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def __repr__(self) -> str:
        return f"KeyPair({self.algorithm}, {self.public_multikey}, key_id={self._key_id!r})"
