"""Bundled JSON-LD contexts, pinned by sha256 and checked when first loaded.

The W3C files are byte-exact copies of the Recommendations' contexts; the battery-passport
context is ours (the platform serves :func:`context_bytes` of it at the path of its URL).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from credentials.errors import ContextError, ErrorCode
from credentials.vocab import BATTERY_CONTEXT_URL

CREDENTIALS_V2_URL: Final = "https://www.w3.org/ns/credentials/v2"
EXAMPLES_V2_URL: Final = "https://www.w3.org/ns/credentials/examples/v2"
UNDEFINED_TERMS_V2_URL: Final = "https://www.w3.org/ns/credentials/undefined-terms/v2"
DATA_INTEGRITY_V2_URL: Final = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1_URL: Final = "https://w3id.org/security/multikey/v1"
JWK_V1_URL: Final = "https://w3id.org/security/jwk/v1"
STATUS_V1_URL: Final = "https://www.w3.org/ns/credentials/status/v1"


@dataclass(frozen=True, slots=True)
class BundledContext:
    """A context the offline loader answers for: URL, package file and pinned sha256."""

    url: str
    filename: str
    sha256: str


_BUNDLED: Final = (
    BundledContext(
        CREDENTIALS_V2_URL,
        "credentials-v2.jsonld",
        "59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734",
    ),
    BundledContext(
        EXAMPLES_V2_URL,
        "credentials-examples-v2.jsonld",
        "57393fbc69d6efb9b9b5dc9cb6b9880b0944360abfe2eaf459c9e58cf2279d7c",
    ),
    BundledContext(
        UNDEFINED_TERMS_V2_URL,
        "credentials-undefined-terms-v2.jsonld",
        "82dab514ba44eb18f5d1b0f638c5e140c6a556fbfb5089601bdc0fa5eb8b2581",
    ),
    BundledContext(
        DATA_INTEGRITY_V2_URL,
        "data-integrity-v2.jsonld",
        "67f21e6e33a6c14e5ccfd2fc7865f7474fb71a04af7e94136cb399dfac8ae8f4",
    ),
    BundledContext(
        MULTIKEY_V1_URL,
        "multikey-v1.jsonld",
        "ba2c182de2d92f7e47184bcca8fcf0beaee6d3986c527bf664c195bbc7c58597",
    ),
    BundledContext(
        JWK_V1_URL,
        "jwk-v1.jsonld",
        "0f14b62f6071aafe00df265770ea0c7508e118247d79b7d861a406d2aa00bece",
    ),
    BundledContext(
        STATUS_V1_URL,
        "status-v1.jsonld",
        "fda5add353231e6a6884a46b12e6c75464281900cb348284d9c360f62381d9f7",
    ),
    BundledContext(
        BATTERY_CONTEXT_URL,
        "battery-passport-v1.jsonld",
        "0462d4533c2ecb2aead1a79c4b6c74c31fbb8d2c8e037e68073fd2e911f6d5a2",
    ),
)

BUNDLED_CONTEXTS: Final[MappingProxyType[str, BundledContext]] = MappingProxyType(
    {c.url: c for c in _BUNDLED}
)
"""URL → bundled context description, for every URL the offline loader knows."""


@cache
def context_bytes(url: str) -> bytes:
    """The exact bytes of the bundled context for ``url`` (sha256-checked).

    Raises :class:`ContextError` for an unknown URL or when the packaged bytes do not match
    the pinned digest (a corrupted or tampered installation).
    """
    entry = BUNDLED_CONTEXTS.get(url)
    if entry is None:
        raise ContextError(f"unknown JSON-LD context {url!r} (never fetched)")
    data = resources.files(__name__).joinpath(entry.filename).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise ContextError(
            f"bundled context {url!r} has sha256 {digest}, expected {entry.sha256}",
            code=ErrorCode.CONTEXT_DIGEST_MISMATCH,
        )
    return data


@cache
def context_document(url: str) -> Any:
    """The parsed JSON of the bundled context for ``url`` (shared; do not mutate)."""
    return json.loads(context_bytes(url))


def battery_context_bytes() -> bytes:
    """Bytes of the battery-passport context, to serve at the path of its URL."""
    return context_bytes(BATTERY_CONTEXT_URL)
