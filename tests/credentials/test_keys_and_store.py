"""Keys, Multikey/JWK encodings, the encrypted file key store and rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credentials.did import build_did_document, verification_methods
from credentials.errors import ErrorCode, KeyMaterialError, KeyStoreError
from credentials.keys import KeyAlgorithm, KeyPair, PublicKey, Signer
from credentials.keystore import FileKeyStore

CONTROLLER = "did:web:localhost%3A8000:orgs:acme"


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_sign_verify_and_encodings_round_trip(algorithm: KeyAlgorithm) -> None:
    pair = KeyPair.generate(algorithm)
    signature = pair.sign(b"battery")
    assert pair.public.verify(b"battery", signature)
    assert not pair.public.verify(b"battery!", signature)
    assert PublicKey.from_multikey(pair.public_multikey) == pair.public
    assert PublicKey.from_jwk(pair.public_jwk) == pair.public
    again = KeyPair.from_secret_multikey(pair.export_secret_multikey())
    assert again.public == pair.public


def test_multikey_prefixes_match_the_specs() -> None:
    assert KeyPair.generate("P-256").public_multikey.startswith("zDn")
    assert KeyPair.generate("P-384").public_multikey.startswith("z82")
    assert KeyPair.generate("Ed25519").public_multikey.startswith("z6Mk")


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "RSA", "n": "x", "e": "AQAB"},
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "OKP", "crv": "Ed25519"},
    ],
)
def test_bad_jwks_raise_typed_errors(jwk: dict[str, str]) -> None:
    with pytest.raises(KeyMaterialError):
        PublicKey.from_jwk(jwk)


def test_unsupported_algorithm_is_typed() -> None:
    with pytest.raises(KeyMaterialError) as info:
        KeyPair.generate("secp256k1")
    assert info.value.code is ErrorCode.UNSUPPORTED_ALGORITHM


def test_store_signer_is_a_signer_and_never_exposes_the_private_key(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, "pw")
    record = store.create(CONTROLLER, "P-256")
    signer = store.signer(record.key_id)
    assert isinstance(signer, Signer)
    assert signer.key_id == record.key_id
    assert record.public_key().verify(b"x", signer.sign(b"x"))
    assert not hasattr(signer, "export_secret_multikey")
    assert not [a for a in dir(signer) if "secret" in a.lower() or "private" in a.lower()]


def test_private_keys_are_encrypted_at_rest(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, "pw")
    record = store.create(CONTROLLER, "Ed25519")
    pair_secret_prefix = "z3u2"  # how an Ed25519 secret multikey starts
    for path in tmp_path.glob("*.json"):
        text = path.read_text()
        assert pair_secret_prefix not in text
        assert '"d"' not in text
    assert store.list(CONTROLLER)[0].public_multikey == record.public_multikey


def test_wrong_passphrase_cannot_sign(tmp_path: Path) -> None:
    record = FileKeyStore(tmp_path, "right").create(CONTROLLER)
    with pytest.raises(KeyStoreError):
        FileKeyStore(tmp_path, "wrong").signer(record.key_id)


def test_altered_metadata_makes_the_key_unusable(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, "pw")
    record = store.create(CONTROLLER)
    path = next(tmp_path.glob("key-*.json"))
    data = json.loads(path.read_text())
    data["controller"] = "did:web:evil.example"
    path.write_text(json.dumps(data))
    with pytest.raises(KeyStoreError):
        FileKeyStore(tmp_path, "pw").signer(record.key_id)


def test_rotation_retires_old_key_but_keeps_it_verifiable(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path, "pw")
    old = store.create(CONTROLLER, "P-256")
    new = store.rotate(CONTROLLER)
    records = {r.key_id: r for r in store.list(CONTROLLER)}
    assert set(records) == {old.key_id, new.key_id}
    assert records[old.key_id].retired is not None
    assert records[new.key_id].is_active
    assert store.active(CONTROLLER).key_id == new.key_id
    with pytest.raises(KeyStoreError):
        store.signer(old.key_id)
    document = build_did_document(CONTROLLER, store.did_keys(CONTROLLER))
    methods = verification_methods(document)
    assert "assertionMethod" in methods[old.key_id].relationships
    assert "authentication" not in methods[old.key_id].relationships
    assert {"assertionMethod", "authentication"} <= methods[new.key_id].relationships


def test_unknown_key_is_key_not_found(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError) as info:
        FileKeyStore(tmp_path, "pw").signer(CONTROLLER + "#nope")
    assert info.value.code is ErrorCode.KEY_NOT_FOUND


def test_from_env_requires_the_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BPP_KEYSTORE_PASSPHRASE", raising=False)
    with pytest.raises(KeyStoreError):
        FileKeyStore.from_env(tmp_path)
    monkeypatch.setenv("BPP_KEYSTORE_PASSPHRASE", "pw")
    assert FileKeyStore.from_env(tmp_path).list() == []
