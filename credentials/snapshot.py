"""Offline verification data: a directory of status list credentials, DID documents and
(optionally) the issuer registry, taken at a known time.

Layout::

    DIR/manifest.json   {"format": 1, "taken_at": "2026-11-26T00:00:00Z",
                         "documents": {"<url>": "<file name>", ...},
                         "issuers": "issuers.json" | null}
    DIR/<file name>     one JSON document per URL (DID documents under their did:web URL)
    DIR/issuers.json    [{"issuer": did, "credential_types": [...] | ["*"],
                          "valid_from": ts | null, "valid_until": ts | null}, ...]

:class:`Snapshot` is a :class:`~credentials.did.DocumentFetcher`, an
:class:`~credentials.verifier.IssuerAccreditation` and reports its age, so
``Verifier(fetcher=snap, accreditation=snap, snapshot=snap)`` verifies offline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from credentials.errors import CredentialError, ErrorCode, SnapshotError
from credentials.model import parse_datetime_stamp

MANIFEST: Final = "manifest.json"
ISSUERS: Final = "issuers.json"


@dataclass(frozen=True, slots=True)
class AccreditationRecord:
    """One issuer registry entry: who may issue which credential types, and when."""

    issuer: str
    credential_types: tuple[str, ...] = ("*",)
    valid_from: str | None = None
    valid_until: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in ``issuers.json``."""
        return {
            "issuer": self.issuer,
            "credential_types": list(self.credential_types),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }


def _file_name(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32] + ".json"


def write_snapshot(
    directory: str | Path,
    documents: Mapping[str, Any],
    *,
    taken_at: datetime | None = None,
    issuers: Sequence[AccreditationRecord] | None = None,
) -> Path:
    """Write a snapshot: ``documents`` maps URL → JSON (status lists, DID documents by
    their ``did:web`` URL). Returns the directory."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    when = (taken_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    index = {}
    for url, document in documents.items():
        name = _file_name(url)
        (out / name).write_text(json.dumps(document, indent=2), encoding="utf-8")
        index[url] = name
    manifest: dict[str, Any] = {"format": 1, "taken_at": when, "documents": index}
    if issuers is not None:
        (out / ISSUERS).write_text(
            json.dumps([r.to_json() for r in issuers], indent=2), encoding="utf-8"
        )
        manifest["issuers"] = ISSUERS
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


class Snapshot:
    """A snapshot directory opened for verification."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            manifest = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
            self.taken_at = parse_datetime_stamp(manifest["taken_at"], "snapshot.taken_at")
            self._index: dict[str, str] = dict(manifest["documents"])
        except (OSError, ValueError, KeyError, TypeError, CredentialError) as exc:
            raise SnapshotError(f"cannot open snapshot {self.directory}: {exc}") from None
        self._issuers: list[AccreditationRecord] | None = None
        issuers_file = manifest.get("issuers")
        if issuers_file:
            try:
                raw = json.loads((self.directory / issuers_file).read_text(encoding="utf-8"))
                self._issuers = [
                    AccreditationRecord(
                        issuer=r["issuer"],
                        credential_types=tuple(r.get("credential_types") or ("*",)),
                        valid_from=r.get("valid_from"),
                        valid_until=r.get("valid_until"),
                    )
                    for r in raw
                ]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SnapshotError(f"cannot read issuer registry: {exc}") from None

    def age_s(self, now: datetime) -> float:
        """Seconds between the snapshot and ``now``."""
        return (now - self.taken_at).total_seconds()

    def urls(self) -> list[str]:
        """Every URL the snapshot answers for."""
        return sorted(self._index)

    async def __call__(self, url: str) -> Any:
        """The stored document for ``url`` (a :class:`DocumentFetcher`)."""
        name = self._index.get(url)
        if name is None:
            raise CredentialError(
                f"{url} is not in the snapshot", code=ErrorCode.DID_RESOLUTION_FAILED
            )
        try:
            return json.loads((self.directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"snapshot file for {url} unreadable: {exc}") from None

    async def is_accredited(
        self, issuer: str, credential_types: Sequence[str], at: datetime
    ) -> bool | None:
        """From ``issuers.json``; None when the snapshot has no registry."""
        if self._issuers is None:
            return None
        wanted = [t for t in credential_types if t != "VerifiableCredential"]
        for record in self._issuers:
            if record.issuer != issuer:
                continue
            if record.valid_from and at < parse_datetime_stamp(record.valid_from, "valid_from"):
                continue
            if record.valid_until and at > parse_datetime_stamp(record.valid_until, "valid_until"):
                continue
            if "*" in record.credential_types or all(t in record.credential_types for t in wanted):
                return True
        return False
