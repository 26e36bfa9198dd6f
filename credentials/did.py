"""DIDs: ``did:key`` (P-256, P-384, Ed25519 Multikey), ``did:web``, DID documents, resolution.

Remote documents come through an injected async :class:`DocumentFetcher`, so the library
never opens a socket itself: the platform resolves its own ``did:web`` documents locally, a
snapshot answers offline, and a server may plug in an HTTP client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import unquote

from credentials import fastjson
from credentials.caching import SharedCache
from credentials.errors import CredentialError, DidError, ErrorCode
from credentials.keys import PublicKey

DID_V1_CONTEXT: Final = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT: Final = "https://w3id.org/security/multikey/v1"
JWK_CONTEXT: Final = "https://w3id.org/security/jwk/v1"
DEV_HTTP_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""Hosts for which ``did:web`` maps to ``http://`` (development); all others use https."""

RELATIONSHIPS: Final = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
)


class DocumentFetcher(Protocol):
    """Fetches a JSON document (a DID document, a status list credential) by URL."""

    async def __call__(self, url: str) -> Any:
        """Return the parsed JSON at ``url``; raise :class:`CredentialError` if unavailable."""
        ...


@dataclass(frozen=True, slots=True)
class VerificationMethod:
    """A resolved verification method: id, type, controller, key, and the relationships
    (``assertionMethod``, ``authentication``...) its controller's document grants it."""

    id: str
    type: str
    controller: str
    public_key: PublicKey
    relationships: frozenset[str] = field(default_factory=frozenset)


# --------------------------------------------------------------------------- did:key


def did_key_from_public_key(public_key: PublicKey) -> str:
    """The ``did:key`` of a public key (its Multikey)."""
    return f"did:key:{public_key.multikey()}"


def did_key_vm_id(did: str) -> str:
    """Verification method id of a ``did:key`` (``did#<multikey>``)."""
    return f"{did}#{did.removeprefix('did:key:')}"


def resolve_did_key(did: str) -> dict[str, Any]:
    """Build the DID document of a ``did:key`` (P-256, P-384, Ed25519; Multikey)."""
    if not did.startswith("did:key:z"):
        raise DidError(f"not a base58btc did:key: {did!r}")
    multikey = did.removeprefix("did:key:")
    try:
        PublicKey.from_multikey(multikey)
    except CredentialError as exc:
        raise DidError(f"invalid did:key {did!r}: {exc.message}") from None
    vm_id = f"{did}#{multikey}"
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [
            {"id": vm_id, "type": "Multikey", "controller": did, "publicKeyMultibase": multikey}
        ],
        **{rel: [vm_id] for rel in RELATIONSHIPS},
    }


# --------------------------------------------------------------------------- did:web


def did_web_to_url(did: str, *, dev_http_hosts: Iterable[str] = DEV_HTTP_HOSTS) -> str:
    """The URL of a ``did:web`` document.

    ``did:web:example.com`` → ``https://example.com/.well-known/did.json``;
    ``did:web:host%3A8000:orgs:acme`` → ``https://host:8000/orgs/acme/did.json``. Hosts in
    ``dev_http_hosts`` (localhost by default) use ``http://`` for development.
    """
    if not did.startswith("did:web:"):
        raise DidError(f"not a did:web: {did!r}")
    parts = did.removeprefix("did:web:").split(":")
    if not parts[0] or any(not p for p in parts):
        raise DidError(f"malformed did:web: {did!r}")
    host = unquote(parts[0])
    if "/" in host or "@" in host or "?" in host or "#" in host:
        raise DidError(f"malformed did:web host in {did!r}")
    path_parts = [unquote(p) for p in parts[1:]]
    if any("/" in p or p in (".", "..") for p in path_parts):
        raise DidError(f"malformed did:web path in {did!r}")
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    scheme = "http" if hostname in set(dev_http_hosts) else "https"
    path = "/" + "/".join(path_parts) + "/did.json" if path_parts else "/.well-known/did.json"
    return f"{scheme}://{host}{path}"


def org_did_web(host: str, slug: str) -> str:
    """The platform's DID for an organisation: ``did:web:<host>:orgs:<slug>`` (port encoded)."""
    return f"did:web:{host.replace(':', '%3A')}:orgs:{slug}"


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class DidKeyEntry:
    """A key listed in a DID document; ``retired`` keys stay for verifying old proofs."""

    fragment: str
    public_key: PublicKey
    retired: bool = False


def build_did_document(did: str, keys: Iterable[DidKeyEntry]) -> dict[str, Any]:
    """A DID document for ``did`` with ``Multikey`` verification methods.

    Active keys get ``assertionMethod`` and ``authentication``; retired keys keep
    ``assertionMethod`` only, so credentials signed before a rotation still verify while
    the retired key can no longer authenticate. Signing with retired keys is refused by the
    key store, not here.
    """
    vms: list[dict[str, Any]] = []
    assertion: list[str] = []
    authentication: list[str] = []
    for entry in keys:
        vm_id = f"{did}#{entry.fragment}"
        vms.append(
            {
                "id": vm_id,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": entry.public_key.multikey(),
            }
        )
        assertion.append(vm_id)
        if not entry.retired:
            authentication.append(vm_id)
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": vms,
        "assertionMethod": assertion,
        "authentication": authentication,
    }


def _absolute(did: str, ref: str) -> str:
    return did + ref if ref.startswith("#") else ref


def _method_key(vm: Mapping[str, Any]) -> PublicKey:
    vm_type = vm.get("type")
    if "publicKeyMultibase" in vm and vm_type in ("Multikey", None):
        return PublicKey.from_multikey(str(vm["publicKeyMultibase"]))
    if "publicKeyJwk" in vm and vm_type in ("JsonWebKey", "JsonWebKey2020", None):
        jwk = vm["publicKeyJwk"]
        if not isinstance(jwk, dict) or "d" in jwk:
            raise DidError("publicKeyJwk must be a public JWK object")
        return PublicKey.from_jwk(jwk)
    raise DidError(f"unsupported verification method type {vm_type!r}")


def verification_methods(document: Mapping[str, Any]) -> dict[str, VerificationMethod]:
    """Every verification method of a DID document, keyed by absolute id, with the
    relationships that reference it (by id or embedded)."""
    did = document.get("id")
    if not isinstance(did, str):
        raise DidError("DID document has no id")
    raw: dict[str, Mapping[str, Any]] = {}
    relationships: dict[str, set[str]] = {}

    def collect(vm: Any) -> str | None:
        if isinstance(vm, str):
            return _absolute(did, vm)
        if isinstance(vm, Mapping) and isinstance(vm.get("id"), str):
            vm_id = _absolute(did, vm["id"])
            raw[vm_id] = vm
            return vm_id
        return None

    listed = document.get("verificationMethod", [])
    for vm in listed if isinstance(listed, list) else []:
        collect(vm)
    for rel in RELATIONSHIPS:
        entries = document.get(rel, [])
        for item in entries if isinstance(entries, list) else []:
            vm_id = collect(item)
            if vm_id is not None:
                relationships.setdefault(vm_id, set()).add(rel)
    out: dict[str, VerificationMethod] = {}
    for vm_id, vm in raw.items():
        try:
            key = _method_key(vm)
        except CredentialError:
            continue  # a method we cannot use must not hide the others
        controller = vm.get("controller", did)
        if controller != did or not vm_id.startswith(did + "#"):
            # a method controlled by (or named under) another DID must be resolved there
            continue
        out[vm_id] = VerificationMethod(
            id=vm_id,
            type=str(vm.get("type", "")),
            controller=str(controller),
            public_key=key,
            relationships=frozenset(relationships.get(vm_id, ())),
        )
    return out


# --------------------------------------------------------------------------- resolver


class DidResolver:
    """Resolves ``did:key`` locally and ``did:web`` through an injected fetcher, with a TTL
    cache of documents. ``clock`` returns seconds (monotonic) and is injectable for tests."""

    def __init__(
        self,
        fetcher: DocumentFetcher | None = None,
        *,
        cache_ttl_s: float = 300.0,
        dev_http_hosts: Iterable[str] = DEV_HTTP_HOSTS,
        clock: Callable[[], float] = time.monotonic,
        max_cache_entries: int = 1024,
    ) -> None:
        self._fetcher = fetcher
        self._ttl = cache_ttl_s
        self._dev_hosts = frozenset(dev_http_hosts)
        self._clock = clock
        self._max = max_cache_entries
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._methods = SharedCache(maxsize=256)

    def invalidate(self, did: str | None = None) -> None:
        """Forget one cached document (after a key rotation) or all of them."""
        if did is None:
            self._cache.clear()
        else:
            self._cache.pop(did, None)

    async def resolve(self, did: str) -> dict[str, Any]:
        """The DID document of ``did``; raises :class:`DidError` if it cannot be resolved."""
        did = did.split("#", 1)[0]
        if did.startswith("did:key:"):
            return resolve_did_key(did)
        if not did.startswith("did:web:"):
            raise DidError(f"unsupported DID method in {did!r}")
        now = self._clock()
        hit = self._cache.get(did)
        if hit is not None and hit[0] > now:
            return hit[1]
        if self._fetcher is None:
            raise DidError(f"no fetcher to resolve {did!r}", code=ErrorCode.DID_RESOLUTION_FAILED)
        url = did_web_to_url(did, dev_http_hosts=self._dev_hosts)
        try:
            document = await self._fetcher(url)
        except CredentialError as exc:
            raise DidError(
                f"cannot fetch {url}: {exc.message}", code=ErrorCode.DID_RESOLUTION_FAILED
            ) from None
        if not isinstance(document, dict) or document.get("id") != did:
            raise DidError(
                f"document at {url} is not the DID document of {did}",
                code=ErrorCode.DID_RESOLUTION_FAILED,
            )
        if len(self._cache) >= self._max:
            self._cache.pop(next(iter(self._cache)))
        self._cache[did] = (now + self._ttl, document)
        return document

    async def verification_method(self, vm_id: str) -> VerificationMethod:
        """Resolve a DID URL to its verification method (with its relationships)."""
        if "#" not in vm_id:
            raise DidError(
                f"verification method {vm_id!r} has no fragment",
                code=ErrorCode.VERIFICATION_METHOD_NOT_FOUND,
            )
        document = await self.resolve(vm_id)
        # Parsed keys per document, keyed by the document's exact JSON: a warm verification
        # skips multibase/JWK decoding and key construction, and any change is a new entry.
        key = fastjson.dumps(document)
        methods: dict[str, VerificationMethod] | None = self._methods.get(key)
        if methods is None:
            methods = verification_methods(document)
            self._methods.put(key, methods)
        found = methods.get(vm_id)
        if found is None:
            raise DidError(
                f"{vm_id} is not a usable verification method of its DID document",
                code=ErrorCode.VERIFICATION_METHOD_NOT_FOUND,
            )
        return found


class StaticDocumentFetcher:
    """A :class:`DocumentFetcher` over documents held in memory (URL → JSON).

    The platform can register its own DID documents and status list credentials here to
    resolve them locally; tests use it as a fake network.
    """

    def __init__(self, documents: Mapping[str, Any] | None = None) -> None:
        self._documents: dict[str, Any] = dict(documents or {})

    def put(self, url: str, document: Any) -> None:
        """Publish (or replace) the document at ``url``."""
        self._documents[url] = document

    def put_did_document(self, document: Mapping[str, Any]) -> str:
        """Publish a ``did:web`` document at its URL; returns the URL."""
        url = did_web_to_url(str(document["id"]))
        self._documents[url] = dict(document)
        return url

    def documents(self) -> dict[str, Any]:
        """A copy of everything published (URL → document), e.g. to write a snapshot."""
        return dict(self._documents)

    async def __call__(self, url: str) -> Any:
        """The document at ``url``; :class:`DidError` (resolution failed) if absent."""
        if url not in self._documents:
            raise DidError(f"nothing published at {url}", code=ErrorCode.DID_RESOLUTION_FAILED)
        return self._documents[url]
