"""The battery's holder key: SD-JWT VCs about a battery are bound (`cnf.jwk`) to a key the
platform keeps for that battery in its key store, and the platform signs a key-binding JWT
only when the battery's current owner has shared the credential (a share link) — so the
binding follows the battery from seller to buyer without re-issuing anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from credentials.keys import KeyAlgorithm, Signer

if TYPE_CHECKING:
    from backend.platform import PlatformIdentity

# Not a resolvable DID: the key store names every key by a DID-shaped controller, and these
# keys are only ever published as a `cnf.jwk` inside the credentials they bind.
HOLDER_PREFIX = "did:bpp-holder:"


def holder_controller(battery_id: str) -> str:
    return f"{HOLDER_PREFIX}{battery_id}"


def battery_holder(platform: PlatformIdentity, battery_id: str) -> Signer:
    """The battery's holder signer (P-256), created on first use."""
    return platform.ensure_key(holder_controller(battery_id), KeyAlgorithm.P256)


def battery_holder_jwk(platform: PlatformIdentity, battery_id: str) -> dict[str, Any]:
    return dict(battery_holder(platform, battery_id).public_jwk)
