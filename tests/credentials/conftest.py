"""Fixtures for the credentials library tests: W3C vector paths and key pairs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from credentials.contexts import CREDENTIALS_V2_URL
from credentials.did import StaticDocumentFetcher, build_did_document, org_did_web
from credentials.issuance import issue
from credentials.keystore import FileKeyStore
from credentials.statuslist import (
    Bitstring,
    StatusListCredentialBuilder,
    StatusMessage,
    StatusPurpose,
    allocate_index,
    make_status_entry,
)
from credentials.verifier import Verifier
from credentials.vocab import BATTERY_CONTEXT_URL


@pytest.fixture(scope="session")
def vectors_dir(shared_dir: Path) -> Path:
    """``shared/vectors``."""
    return shared_dir / "vectors"


@pytest.fixture(scope="session")
def di_dir(vectors_dir: Path) -> Path:
    """The W3C Data Integrity test vectors."""
    return vectors_dir / "w3c-di"


def load_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- a small platform

HOST = "localhost:8000"


@dataclass
class StatusList:
    url: str
    purpose: StatusPurpose
    bits: Bitstring
    messages: tuple[StatusMessage, ...] = ()
    used: set[int] = field(default_factory=set)


@dataclass
class Org:
    """An issuing organisation of a test platform: DID, key store, status lists."""

    did: str
    store: FileKeyStore
    fetcher: StaticDocumentFetcher
    lists: dict[str, StatusList] = field(default_factory=dict)

    @property
    def key_id(self) -> str:
        return self.store.active(self.did).key_id

    def publish_did(self) -> None:
        self.fetcher.put_did_document(build_did_document(self.did, self.store.did_keys(self.did)))

    def add_list(self, name: str, purpose: StatusPurpose, status_size: int = 1) -> StatusList:
        messages: tuple[StatusMessage, ...] = ()
        if status_size > 1:
            messages = tuple(
                StatusMessage(i, m)
                for i, m in enumerate(["valid", "pending inspection", "restricted", "blocked"])
            )
        url = f"http://{HOST}/orgs/{self.did.rsplit(':', 1)[1]}/status/{name}"
        status_list = StatusList(url, purpose, Bitstring(status_size=status_size), messages)
        self.lists[name] = status_list
        self.publish_list(name)
        return status_list

    def publish_list(self, name: str) -> None:
        status_list = self.lists[name]
        unsigned = StatusListCredentialBuilder(
            url=status_list.url,
            issuer=self.did,
            purpose=status_list.purpose,
            bitstring=status_list.bits,
            valid_from="2025-01-01T00:00:00Z",
        ).build()
        signed = issue(unsigned, self.store.signer(self.key_id))
        self.fetcher.put(status_list.url, signed)

    def entry(self, name: str) -> dict[str, Any]:
        status_list = self.lists[name]
        index = allocate_index(status_list.used)
        status_list.used.add(index)
        return make_status_entry(
            status_list.url,
            index,
            status_list.purpose,
            status_size=status_list.bits.status_size,
            messages=status_list.messages,
        )

    def set_status(self, entry: dict[str, Any], value: int = 1) -> None:
        for status_list in self.lists.values():
            if status_list.url == entry["statusListCredential"]:
                status_list.bits.set(int(entry["statusListIndex"]), value)
                name = next(k for k, v in self.lists.items() if v is status_list)
                self.publish_list(name)
                return
        raise AssertionError("unknown list")


def passport_credential(issuer: str, status: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A small BatteryPassportCredential using the battery-passport context."""
    credential: dict[str, Any] = {
        "@context": [CREDENTIALS_V2_URL, BATTERY_CONTEXT_URL],
        "id": "urn:uuid:3f1d6c1e-8a6b-4f6e-9a57-0a4c8d2b7e11",
        "type": ["VerifiableCredential", "BatteryPassportCredential"],
        "issuer": issuer,
        "validFrom": "2025-06-01T00:00:00Z",
        "credentialSubject": {
            "id": "urn:battery:KR-2025-05-HMG-00000001",
            "type": "Battery",
            "batteryIdentifier": "KR-2025-05-HMG-00000001",
            "manufacturingPlace": "Ulsan, KR",
            "batteryMass": 453.5,
            "ratedCapacity": 111.2,
            "batteryChemistry": "NCM811",
            "stateOfCharge": {
                "value": 81,
                "unit": "%",
                "measuredAt": "2025-06-01T08:00:00Z",
                "method": "BMS",
                "uncertainty": 1.5,
            },
        },
    }
    if status:
        credential["credentialStatus"] = status if len(status) > 1 else status[0]
    return credential


@pytest.fixture
def fetcher() -> StaticDocumentFetcher:
    return StaticDocumentFetcher()


@pytest.fixture
def acme(tmp_path: Path, fetcher: StaticDocumentFetcher) -> Org:
    """Organisation 'acme' with a P-256 key, a revocation and a suspension list."""
    store = FileKeyStore(tmp_path / "keys", "test passphrase")
    org = Org(org_did_web(HOST, "acme"), store, fetcher)
    store.create(org.did, "P-256")
    org.publish_did()
    org.add_list("revocation", StatusPurpose.REVOCATION)
    org.add_list("suspension", StatusPurpose.SUSPENSION)
    return org


@pytest.fixture
def verifier(fetcher: StaticDocumentFetcher) -> Verifier:
    return Verifier(fetcher=fetcher)
