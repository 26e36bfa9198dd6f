"""The custodial holder key: SD-JWT VCs about batteries are bound (`cnf.jwk`) to one key the
platform keeps in its key store, and the platform signs a key-binding JWT only for a share
the battery's current owner created, over the buyer's nonce — so the binding follows the
battery from seller to buyer without re-issuing anything, and a copied SD-JWT cannot be
presented to a buyer without the owner's share.

One key for all batteries, not one per battery: the platform would hold every per-battery
key anyway (no security gained), while a key per battery would make every key-store scan
(DID documents, signer look-ups) grow with the fleet. The KB-JWT's `sd_hash` binds each
presentation to its own SD-JWT, so one battery's presentation cannot vouch for another's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from credentials.keys import KeyAlgorithm, Signer

if TYPE_CHECKING:
    from backend.platform import PlatformIdentity

# Not a resolvable DID: the key store names every key by a DID-shaped controller, and this
# key is only ever published as a `cnf.jwk` inside the credentials it binds. Never rotate
# it without re-issuing: SD-JWTs bound to the old key could no longer be presented.
HOLDER_CONTROLLER: Final = "did:bpp-holder:custodial"


def battery_holder(platform: PlatformIdentity) -> Signer:
    """The custodial holder signer (P-256), created on first use."""
    return platform.ensure_key(HOLDER_CONTROLLER, KeyAlgorithm.P256)


def battery_holder_jwk(platform: PlatformIdentity) -> dict[str, Any]:
    return dict(battery_holder(platform).public_jwk)
