"""An encrypted, file-based key store with a KMS-style interface.

Private keys are encrypted at rest with AES-256-GCM under a key derived from the store's
passphrase with scrypt (one salt per store, kept in ``keystore.json``). Each key file binds
its metadata (id, controller, algorithm, public key) as GCM associated data, so editing a
file's metadata makes it undecryptable rather than silently re-labelling a key.

Callers get :class:`KeyRecord` (public data) and :class:`Signer` objects; nothing returns a
private key. Rotation retires the controller's active keys (they stay listed, and stay in
the DID document as verification methods) and creates a new one; retired keys cannot sign.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from credentials.did import DidKeyEntry
from credentials.errors import ErrorCode, KeyStoreError
from credentials.keys import KeyAlgorithm, KeyPair, PublicKey, parse_algorithm
from credentials.multiformats import b64url_decode, b64url_encode

PASSPHRASE_ENV: Final = "BPP_KEYSTORE_PASSPHRASE"  # noqa: S105 - a variable name
_STORE_FILE: Final = "keystore.json"
_FORMAT: Final = 1
_SCRYPT_N: Final = 2**15
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """Public facts about a stored key."""

    key_id: str
    controller: str
    algorithm: KeyAlgorithm
    public_multikey: str
    created: str
    retired: str | None = None

    @property
    def fragment(self) -> str:
        """The DID URL fragment (after ``#``)."""
        return self.key_id.split("#", 1)[1]

    @property
    def is_active(self) -> bool:
        """Not retired."""
        return self.retired is None

    def public_key(self) -> PublicKey:
        """The public key object."""
        return PublicKey.from_multikey(self.public_multikey)


class _StoreSigner:
    """A :class:`~credentials.keys.Signer` over a decrypted key; exposes no private data."""

    __slots__ = ("__pair",)

    def __init__(self, pair: KeyPair) -> None:
        self.__pair = pair

    @property
    def key_id(self) -> str:
        """Verification method id (DID URL) of the key."""
        return self.__pair.key_id

    @property
    def algorithm(self) -> KeyAlgorithm:
        """Key type."""
        return self.__pair.algorithm

    @property
    def public_multikey(self) -> str:
        """``publicKeyMultibase`` of the public key."""
        return self.__pair.public_multikey

    @property
    def public_jwk(self) -> dict[str, str]:
        """Public JWK."""
        return self.__pair.public_jwk

    def sign(self, data: bytes) -> bytes:
        """Signature over ``data`` (the private key never leaves this object)."""
        return self.__pair.sign(data)

    def __repr__(self) -> str:
        return f"StoreSigner({self.key_id!r})"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class FileKeyStore:
    """Keys in ``directory``, encrypted with ``passphrase``.

    >>> store = FileKeyStore(tmp_dir, "secret")                    # doctest: +SKIP
    >>> rec = store.create("did:web:example.com:orgs:acme", "P-256")  # doctest: +SKIP
    >>> store.signer(rec.key_id).sign(b"data")                     # doctest: +SKIP
    """

    def __init__(self, directory: str | os.PathLike[str], passphrase: str) -> None:
        if not passphrase:
            raise KeyStoreError("the key store passphrase must not be empty")
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        meta_path = self._dir / _STORE_FILE
        if not meta_path.exists():
            fresh = {
                "format": _FORMAT,
                "kdf": "scrypt",
                "salt": b64url_encode(secrets.token_bytes(16)),
                "n": _SCRYPT_N,
                "r": _SCRYPT_R,
                "p": _SCRYPT_P,
            }
            # link() never replaces: if another process created the store first, its salt
            # wins and both derive the same key
            tmp = self._dir / f".{_STORE_FILE}.{secrets.token_hex(4)}.tmp"
            _write_atomic(tmp, fresh)
            try:
                os.link(tmp, meta_path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            salt = b64url_decode(meta["salt"])
            n, r, p = int(meta["n"]), int(meta["r"]), int(meta["p"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyStoreError(f"cannot read {meta_path}: {exc}") from None
        key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
        self._aead = AESGCM(key)
        self._signers: dict[str, _StoreSigner] = {}

    @classmethod
    def from_env(cls, directory: str | os.PathLike[str]) -> FileKeyStore:
        """Open with the passphrase in ``BPP_KEYSTORE_PASSPHRASE``."""
        passphrase = os.environ.get(PASSPHRASE_ENV, "")
        if not passphrase:
            raise KeyStoreError(f"{PASSPHRASE_ENV} is not set")
        return cls(directory, passphrase)

    # ------------------------------------------------------------------ files

    def _path(self, key_id: str) -> Path:
        digest = hashlib.sha256(key_id.encode("utf-8")).hexdigest()[:24]
        return self._dir / f"key-{digest}.json"

    @staticmethod
    def _aad(record: KeyRecord) -> bytes:
        return "\n".join(
            (record.key_id, record.controller, record.algorithm.value, record.public_multikey)
        ).encode("utf-8")

    @staticmethod
    def _record(data: dict[str, Any]) -> KeyRecord:
        return KeyRecord(
            key_id=data["id"],
            controller=data["controller"],
            algorithm=parse_algorithm(data["algorithm"]),
            public_multikey=data["publicKeyMultibase"],
            created=data["created"],
            retired=data.get("retired"),
        )

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"cannot read key file {path.name}: {exc}") from None
        return data

    def _store(self, record: KeyRecord, encrypted: dict[str, str]) -> None:
        data: dict[str, Any] = {
            "id": record.key_id,
            "controller": record.controller,
            "algorithm": record.algorithm.value,
            "publicKeyMultibase": record.public_multikey,
            "created": record.created,
            "encrypted": encrypted,
        }
        if record.retired:
            data["retired"] = record.retired
        _write_atomic(self._path(record.key_id), data)

    # ------------------------------------------------------------------ API

    def create(
        self, controller: str, algorithm: KeyAlgorithm | str = KeyAlgorithm.P256
    ) -> KeyRecord:
        """Generate and store a new active key for ``controller`` (a DID)."""
        if not controller.startswith("did:"):
            raise KeyStoreError(f"controller must be a DID, got {controller!r}")
        pair = KeyPair.generate(parse_algorithm(str(algorithm)))
        fragment = "key-" + hashlib.sha256(pair.public_multikey.encode()).hexdigest()[:16]
        record = KeyRecord(
            key_id=f"{controller}#{fragment}",
            controller=controller,
            algorithm=pair.algorithm,
            public_multikey=pair.public_multikey,
            created=_now(),
        )
        nonce = secrets.token_bytes(12)
        secret = pair.export_secret_multikey().encode("ascii")
        ciphertext = self._aead.encrypt(nonce, secret, self._aad(record))
        self._store(
            record,
            {
                "alg": "A256GCM",
                "nonce": b64url_encode(nonce),
                "ciphertext": b64url_encode(ciphertext),
            },
        )
        return record

    def get(self, key_id: str) -> KeyRecord:
        """The record of ``key_id``; :class:`KeyStoreError` (``key_not_found``) if absent."""
        path = self._path(key_id)
        if not path.exists():
            raise KeyStoreError(f"no key {key_id!r}", code=ErrorCode.KEY_NOT_FOUND)
        return self._record(self._load(path))

    def list(self, controller: str | None = None) -> builtins.list[KeyRecord]:
        """Keys of ``controller`` (or all), active and retired, oldest first."""
        out = []
        for path in sorted(self._dir.glob("key-*.json")):
            record = self._record(self._load(path))
            if controller is None or record.controller == controller:
                out.append(record)
        out.sort(key=lambda r: (r.created, r.key_id))
        return out

    def active(self, controller: str, algorithm: KeyAlgorithm | str | None = None) -> KeyRecord:
        """The newest active key of ``controller`` (optionally of one algorithm)."""
        wanted = parse_algorithm(str(algorithm)) if algorithm is not None else None
        candidates = [
            r
            for r in self.list(controller)
            if r.is_active and (wanted is None or r.algorithm is wanted)
        ]
        if not candidates:
            raise KeyStoreError(
                f"{controller} has no active {wanted or ''} key".replace("  ", " "),
                code=ErrorCode.KEY_NOT_FOUND,
            )
        return candidates[-1]

    def signer(self, key_id: str) -> _StoreSigner:
        """A signer for an active key; retired keys and wrong passphrases are refused."""
        cached = self._signers.get(key_id)
        if cached is not None:
            return cached
        data = self._load(self._path(key_id)) if self._path(key_id).exists() else None
        if data is None:
            raise KeyStoreError(f"no key {key_id!r}", code=ErrorCode.KEY_NOT_FOUND)
        record = self._record(data)
        if not record.is_active:
            raise KeyStoreError(f"key {key_id} was retired at {record.retired}; it cannot sign")
        enc = data["encrypted"]
        try:
            secret = self._aead.decrypt(
                b64url_decode(enc["nonce"]), b64url_decode(enc["ciphertext"]), self._aad(record)
            )
        except (InvalidTag, KeyError):
            raise KeyStoreError(
                f"cannot decrypt {key_id}: wrong passphrase or altered key file"
            ) from None
        pair = KeyPair.from_secret_multikey(secret.decode("ascii"), key_id)
        if pair.public_multikey != record.public_multikey:
            raise KeyStoreError(f"key file of {key_id} does not match its public key")
        signer = _StoreSigner(pair)
        self._signers[key_id] = signer
        return signer

    def retire(self, key_id: str) -> KeyRecord:
        """Mark a key retired (kept for verification, never signs again)."""
        data = self._load(self._path(key_id))
        record = self._record(data)
        if record.retired:
            return record
        retired = KeyRecord(
            key_id=record.key_id,
            controller=record.controller,
            algorithm=record.algorithm,
            public_multikey=record.public_multikey,
            created=record.created,
            retired=_now(),
        )
        self._store(retired, data["encrypted"])
        self._signers.pop(key_id, None)
        return retired

    def rotate(self, controller: str, algorithm: KeyAlgorithm | str | None = None) -> KeyRecord:
        """Retire the controller's active keys (of ``algorithm``, default: of the newest
        active key's algorithm, else P-256) and create a new one."""
        active = [r for r in self.list(controller) if r.is_active]
        if algorithm is None:
            algorithm = active[-1].algorithm if active else KeyAlgorithm.P256
        wanted = parse_algorithm(str(algorithm))
        new = self.create(controller, wanted)
        for record in active:
            if record.algorithm is wanted:
                self.retire(record.key_id)
        return new

    def did_keys(self, controller: str) -> builtins.list[DidKeyEntry]:
        """Entries for :func:`credentials.did.build_did_document` (retired keys included)."""
        return [
            DidKeyEntry(r.fragment, r.public_key(), retired=not r.is_active)
            for r in self.list(controller)
        ]
