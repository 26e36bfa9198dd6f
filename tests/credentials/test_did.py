"""did:key, did:web URL mapping, DID documents, the caching resolver."""

from __future__ import annotations

from typing import Any

import pytest

from credentials.did import (
    DidKeyEntry,
    DidResolver,
    StaticDocumentFetcher,
    build_did_document,
    did_key_from_public_key,
    did_key_vm_id,
    did_web_to_url,
    org_did_web,
    resolve_did_key,
)
from credentials.errors import DidError, ErrorCode
from credentials.keys import KeyAlgorithm, KeyPair


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:example.com", "https://example.com/.well-known/did.json"),
        ("did:web:example.com:orgs:acme", "https://example.com/orgs/acme/did.json"),
        ("did:web:host%3A8000:orgs:acme", "https://host:8000/orgs/acme/did.json"),
        ("did:web:localhost%3A8000:orgs:acme", "http://localhost:8000/orgs/acme/did.json"),
        ("did:web:127.0.0.1%3A8000", "http://127.0.0.1:8000/.well-known/did.json"),
    ],
)
def test_did_web_url_mapping(did: str, url: str) -> None:
    assert did_web_to_url(did) == url


@pytest.mark.parametrize(
    "did", ["did:web:", "did:web:a::b", "did:web:evil.com%2Fx", "did:key:zabc", "did:web:a:.."]
)
def test_malformed_did_web_is_refused(did: str) -> None:
    with pytest.raises(DidError):
        did_web_to_url(did)


def test_org_did_encodes_the_port() -> None:
    assert org_did_web("localhost:8000", "acme") == "did:web:localhost%3A8000:orgs:acme"


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
async def test_did_key_round_trip(algorithm: KeyAlgorithm) -> None:
    pair = KeyPair.generate(algorithm)
    did = did_key_from_public_key(pair.public)
    method = await DidResolver().verification_method(did_key_vm_id(did))
    assert method.public_key == pair.public
    assert method.controller == did
    assert "assertionMethod" in method.relationships
    assert resolve_did_key(did)["id"] == did


async def test_json_web_key_methods_resolve() -> None:
    pair = KeyPair.generate("P-384")
    did = "did:web:example.com"
    document: dict[str, Any] = {
        "id": did,
        "verificationMethod": [
            {"id": "#k1", "type": "JsonWebKey", "controller": did, "publicKeyJwk": pair.public_jwk}
        ],
        "assertionMethod": ["#k1"],
    }
    resolver = DidResolver(StaticDocumentFetcher({did_web_to_url(did): document}))
    method = await resolver.verification_method(did + "#k1")
    assert method.public_key == pair.public
    assert method.relationships == frozenset({"assertionMethod"})


async def test_resolver_caches_until_ttl() -> None:
    now = [0.0]
    calls: list[str] = []
    did = "did:web:example.com"
    pair = KeyPair.generate("Ed25519")
    document = build_did_document(did, [DidKeyEntry("k", pair.public)])

    async def fetch(url: str) -> Any:
        calls.append(url)
        return document

    resolver = DidResolver(fetch, cache_ttl_s=10, clock=lambda: now[0])
    await resolver.resolve(did)
    await resolver.resolve(did)
    assert len(calls) == 1
    now[0] = 11
    await resolver.resolve(did)
    assert len(calls) == 2
    resolver.invalidate(did)
    await resolver.resolve(did)
    assert len(calls) == 3


async def test_document_for_another_did_is_refused() -> None:
    did = "did:web:example.com"
    fetcher = StaticDocumentFetcher({did_web_to_url(did): {"id": "did:web:evil.com"}})
    with pytest.raises(DidError) as info:
        await DidResolver(fetcher).resolve(did)
    assert info.value.code is ErrorCode.DID_RESOLUTION_FAILED


async def test_missing_method_is_not_found() -> None:
    did = "did:web:example.com"
    document = build_did_document(did, [DidKeyEntry("k", KeyPair.generate("P-256").public)])
    resolver = DidResolver(StaticDocumentFetcher({did_web_to_url(did): document}))
    with pytest.raises(DidError) as info:
        await resolver.verification_method(did + "#other")
    assert info.value.code is ErrorCode.VERIFICATION_METHOD_NOT_FOUND


async def test_methods_of_another_controller_are_not_usable() -> None:
    pair = KeyPair.generate("P-256")
    did = "did:web:example.com"
    document: dict[str, Any] = {
        "id": did,
        "verificationMethod": [
            {
                "id": did + "#k1",
                "type": "Multikey",
                "controller": "did:web:evil.example",
                "publicKeyMultibase": pair.public_multikey,
            }
        ],
        "assertionMethod": ["#k1"],
    }
    resolver = DidResolver(StaticDocumentFetcher({did_web_to_url(did): document}))
    with pytest.raises(DidError) as info:
        await resolver.verification_method(did + "#k1")
    assert info.value.code is ErrorCode.VERIFICATION_METHOD_NOT_FOUND
