"""The verify page's input: a credential, a presentation, a token, or a passport link/QR.

`classify` turns what a buyer pasted, uploaded or scanned into something to verify, or a
`VerifyInputError` naming the message and the 4xx status to answer with. The verifier
itself is the platform's (`runtime.issuance.verifier`), the same as the VC-API's.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Final

from credentials.errors import CredentialError
from credentials.limits import parse_json_bounded

MAX_INPUT_BYTES: Final = 256 * 1024
"""Passport credentials are a few kilobytes; a quarter megabyte bounds a presentation too."""

_PASSPORT_LINK: Final = re.compile(
    r"(?:/p/|urn:uuid:|^)([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:[/?#].*)?$"
)
_TOKEN: Final = re.compile(r"^[A-Za-z0-9_\-.~]+$")
_CREDENTIAL_TYPES: Final = frozenset(
    {
        "VerifiableCredential",
        "VerifiablePresentation",
        "EnvelopedVerifiableCredential",
        "EnvelopedVerifiablePresentation",
    }
)


class VerifyInputError(Exception):
    """Input the page cannot verify: `key` is the message, `status` the HTTP status."""

    def __init__(self, key: str, status: int = 400) -> None:
        super().__init__(key)
        self.key = key
        self.status = status


@dataclass(frozen=True, slots=True)
class Document:
    """A credential or presentation to verify (a JSON object, or a compact token)."""

    value: dict[str, Any] | str

    @property
    def is_presentation(self) -> bool:
        if isinstance(self.value, str):
            return False
        types = self.value.get("type")
        names = types if isinstance(types, list) else [types]
        return "VerifiablePresentation" in names or "EnvelopedVerifiablePresentation" in names


@dataclass(frozen=True, slots=True)
class PassportLink:
    battery_id: str


def decode_upload(raw: bytes) -> str:
    if len(raw) > MAX_INPUT_BYTES:
        raise VerifyInputError("error.too_large", 413)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise VerifyInputError("error.bad_upload") from None


def classify(text: str) -> Document | PassportLink:
    text = text.strip()
    if not text:
        raise VerifyInputError("error.empty")
    if len(text.encode("utf-8")) > MAX_INPUT_BYTES:
        raise VerifyInputError("error.too_large", 413)
    if text.startswith(("{", "[")):
        try:
            parsed = parse_json_bounded(text)
        except CredentialError:
            raise VerifyInputError("error.not_json") from None
        if not isinstance(parsed, dict):
            raise VerifyInputError("error.not_credential", 422)
        types = parsed.get("type")
        names = set(types if isinstance(types, list) else [types]) - {None}
        if not names & _CREDENTIAL_TYPES:
            raise VerifyInputError("error.not_credential", 422)
        return Document(parsed)
    link = _PASSPORT_LINK.search(text)
    if link is not None and ("/p/" in text or text.startswith("urn:uuid:") or len(text) == 36):
        return PassportLink(str(uuid.UUID(link.group(1))))
    if "." in text and _TOKEN.match(text):
        return Document(text)
    raise VerifyInputError("error.not_json")
