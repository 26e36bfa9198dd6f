"""The platform's identity: its public URL, its did:web, organisations' DIDs and key store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from backend.settings import Settings
from credentials.did import build_did_document, org_did_web
from credentials.errors import KeyStoreError
from credentials.keys import KeyAlgorithm, Signer
from credentials.keystore import FileKeyStore

PLATFORM_SLUG = "platform"


@dataclass
class PlatformIdentity:
    base_url: str
    keystore: FileKeyStore

    @classmethod
    def load(cls, settings: Settings, base_url: str) -> PlatformIdentity:
        keystore = FileKeyStore(
            settings.resolved_data_dir / "keystore",
            settings.keystore_passphrase.get_secret_value(),
        )
        return cls(base_url=base_url.rstrip("/"), keystore=keystore)

    @property
    def host(self) -> str:
        """The authority of the public URL (host and port), as did:web encodes it."""
        return urlsplit(self.base_url).netloc

    @property
    def did(self) -> str:
        return "did:web:" + self.host.replace(":", "%3A")

    def organisation_did(self, slug: str) -> str:
        return org_did_web(self.host, slug)

    def did_for_path(self, slug: str | None) -> str:
        return self.did if slug is None else self.organisation_did(slug)

    def ensure_key(self, controller: str, algorithm: KeyAlgorithm = KeyAlgorithm.P256) -> Signer:
        """The controller's newest active signing key of `algorithm`, created on first use."""
        try:
            record = self.keystore.active(controller, algorithm)
        except KeyStoreError:
            record = self.keystore.create(controller, algorithm)
        return self.keystore.signer(record.key_id)

    def did_document(self, did: str) -> dict[str, Any] | None:
        """The DID document of a DID the platform hosts, retired keys included."""
        keys = self.keystore.did_keys(did)
        return build_did_document(did, keys) if keys else None
