"""The platform's identity: its public URL, its did:web, organisations' DIDs and key store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from backend.settings import Settings
from credentials.did import build_did_document, org_did_web
from credentials.errors import KeyStoreError
from credentials.keys import KeyAlgorithm, Signer
from credentials.keystore import FileKeyStore

PLATFORM_SLUG = "platform"


_SIGNER_TTL_S = 5.0


@dataclass
class PlatformIdentity:
    base_url: str
    keystore: FileKeyStore
    _signers: dict[tuple[str, KeyAlgorithm], tuple[float, Signer]] = field(default_factory=dict)
    # Called with the controller's DID whenever a key is created here (caches of DID
    # documents forget that DID).
    key_listeners: list[Callable[[str], None]] = field(default_factory=list)

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
        """The controller's newest active signing key of `algorithm`, created on first use.

        Looked up in the key store at most every few seconds per controller: a rotation done
        by `bpp keys rotate` in another process is picked up that quickly, and signing does
        not scan the key files every time.
        """
        now = time.monotonic()
        cached = self._signers.get((controller, algorithm))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            record = self.keystore.active(controller, algorithm)
        except KeyStoreError:
            record = self.keystore.create(controller, algorithm)
            for listener in self.key_listeners:
                listener(controller)
        signer = self.keystore.signer(record.key_id)
        self._signers[(controller, algorithm)] = (now + _SIGNER_TTL_S, signer)
        return signer

    def did_document(self, did: str) -> dict[str, Any] | None:
        """The DID document of a DID the platform hosts, retired keys included."""
        keys = self.keystore.did_keys(did)
        return build_did_document(did, keys) if keys else None
