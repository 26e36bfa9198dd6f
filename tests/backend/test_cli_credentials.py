"""`bpp apikey`, `bpp keys` and `bpp credentials` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backend.test_cli_serve import BPP, clean_env, serving
from tests.services import free_port


def bpp(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BPP, *args],
        env=clean_env(data_dir),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


UNSIGNED = {
    "@context": ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/battery-passport/v1"],
    "type": ["VerifiableCredential", "BatteryInspectionCredential"],
    "validFrom": "2026-01-01T00:00:00Z",
    "credentialSubject": {
        "id": "urn:uuid:0b6f3c8e-1d2a-4c3b-9e8f-7a6b5c4d3e2f",
        "stateOfHealth": 91.0,
    },
}


def test_apikey_create_prints_the_key_last_and_creates_the_org_did(tmp_path: Path) -> None:
    created = bpp(tmp_path, "apikey", "create", "--role", "issuer", "--org", "acme-cells")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.strip().splitlines()
    assert lines[-1].startswith("bpp_")
    assert "did:web:127.0.0.1%3A8000:orgs:acme-cells" in created.stdout
    keys = bpp(tmp_path, "keys", "list", "--org", "acme-cells", "--json")
    assert keys.returncode == 0, keys.stderr
    (record,) = json.loads(keys.stdout)
    assert record["algorithm"] == "P-256"
    assert record["retired"] is None

    revoked = bpp(tmp_path, "apikey", "revoke", lines[-1])
    assert revoked.returncode == 0, revoked.stderr
    assert bpp(tmp_path, "apikey", "revoke", "zzzzzzzz").returncode == 1
    bad_role = bpp(tmp_path, "apikey", "create", "--role", "emperor", "--org", "acme-cells")
    assert bad_role.returncode == 2


def test_keys_rotate_keeps_the_retired_key_listed(tmp_path: Path) -> None:
    first = bpp(tmp_path, "keys", "create", "--org", "acme-cells").stdout.strip()
    second = bpp(tmp_path, "keys", "rotate", "--org", "acme-cells").stdout.strip()
    assert first != second
    records = json.loads(bpp(tmp_path, "keys", "list", "--org", "acme-cells", "--json").stdout)
    assert [r["key_id"] for r in records] == [first, second]
    assert records[0]["retired"] is not None
    assert records[1]["retired"] is None
    assert (
        bpp(tmp_path, "keys", "create", "--org", "acme-cells", "--algorithm", "RSA").returncode == 1
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("cli-server")
    with serving(data_dir, free_port()) as base:
        yield base, data_dir


def verify(
    data_dir: Path, credential: dict[str, Any], *args: str
) -> subprocess.CompletedProcess[str]:
    return bpp(
        data_dir, "credentials", "verify", "-", "--json", *args, stdin=json.dumps(credential)
    )


def test_issue_snapshot_and_verify_offline_with_exit_codes(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, data_dir = server
    issued = bpp(
        data_dir, "credentials", "issue", "-", "--org", "acme-cells", stdin=json.dumps(UNSIGNED)
    )
    assert issued.returncode == 0, issued.stderr
    credential = json.loads(issued.stdout)
    assert credential["issuer"].endswith(":orgs:acme-cells")

    # Without a snapshot nothing outside the file is consulted: undetermined, exit 3.
    offline = verify(data_dir, credential)
    assert offline.returncode == 3, offline.stdout
    result = json.loads(offline.stdout)
    assert result["verified"] is False
    assert {c["name"]: c["status"] for c in result["checks"]}["signature"] == "unknown"

    assert verify(data_dir, credential, "--online").returncode == 0

    # The issuer registry joins the snapshot: accredit acme-cells as an inspector on chain.
    accredited = bpp(data_dir, "chain", "accredit", "acme-cells", "inspector")
    assert accredited.returncode == 0, accredited.stderr
    deadline = time.monotonic() + 60
    while not httpx.get(f"{base}/snapshot/index.json").json().get("issuers"):
        assert time.monotonic() < deadline, "the accreditation never reached the chain mirror"
        time.sleep(0.5)

    snapshot_dir = tmp_path / "snapshot"
    taken = bpp(data_dir, "credentials", "snapshot", "--out", str(snapshot_dir), "--server", base)
    assert taken.returncode == 0, taken.stderr
    from_snapshot = verify(
        data_dir, credential, "--snapshot", str(snapshot_dir), "--policy", "platform"
    )
    assert from_snapshot.returncode == 0, from_snapshot.stdout
    offline_result = json.loads(from_snapshot.stdout)
    assert isinstance(offline_result["snapshot_age_s"], float)
    checks = {c["name"]: c["status"] for c in offline_result["checks"]}
    assert checks["issuer_accredited"] == "pass", offline_result

    tampered = json.loads(json.dumps(credential))
    tampered["credentialSubject"]["stateOfHealth"] = 99.0
    assert verify(data_dir, tampered, "--snapshot", str(snapshot_dir)).returncode == 1

    # A revocation after the snapshot is not in it; a fresh snapshot has it.
    key = bpp(
        data_dir, "apikey", "create", "--role", "issuer", "--org", "acme-cells"
    ).stdout.split()[-1]
    revoke = httpx.post(
        f"{base}/graphql",
        json={
            "query": "mutation($id: String!) "
            "{ revokeCredential(input: {credentialId: $id, urgent: true}) { __typename } }",
            "variables": {"id": credential["id"]},
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert revoke.json()["data"]["revokeCredential"]["__typename"] == "RevokeCredentialSuccess"
    assert verify(data_dir, credential, "--snapshot", str(snapshot_dir)).returncode == 0
    fresh = tmp_path / "fresh"
    assert (
        bpp(data_dir, "credentials", "snapshot", "--out", str(fresh), "--server", base).returncode
        == 0
    )
    assert verify(data_dir, credential, "--snapshot", str(fresh)).returncode == 1


def test_verify_usage_errors_exit_2(tmp_path: Path) -> None:
    assert bpp(tmp_path, "credentials", "verify", str(tmp_path / "missing.json")).returncode == 2
    assert bpp(tmp_path, "credentials", "verify", "-", stdin="{not json").returncode == 2
    assert (
        bpp(
            tmp_path, "credentials", "verify", "-", "--snapshot", str(tmp_path / "nope"), stdin="{}"
        ).returncode
        == 2
    )


def test_issue_formats_vc_jwt_and_sd_jwt(server: tuple[str, Path], tmp_path: Path) -> None:
    from credentials.jose import ENVELOPED_PREFIX, ENVELOPED_SD_JWT_PREFIX
    from credentials.keys import KeyPair
    from credentials.sdjwt import parse_issuer_jwt

    _, data_dir = server
    jwt = bpp(
        data_dir,
        "credentials",
        "issue",
        "-",
        "--org",
        "acme-cells",
        "--format",
        "vc+jwt",
        stdin=json.dumps(UNSIGNED),
    )
    assert jwt.returncode == 0, jwt.stderr
    enveloped = json.loads(jwt.stdout)
    assert enveloped["id"].startswith(ENVELOPED_PREFIX)
    assert verify(data_dir, enveloped, "--online").returncode == 0

    holder = tmp_path / "holder.jwk"
    holder.write_text(json.dumps(KeyPair.generate("P-256").public_jwk))
    sd = bpp(
        data_dir,
        "credentials",
        "issue",
        "-",
        "--org",
        "acme-cells",
        "--format",
        "dc+sd-jwt",
        "--holder-jwk",
        str(holder),
        stdin=json.dumps(UNSIGNED),
    )
    assert sd.returncode == 0, sd.stderr
    token = json.loads(sd.stdout)["id"]
    assert token.startswith(ENVELOPED_SD_JWT_PREFIX)
    _, header, payload = parse_issuer_jwt(token[len(ENVELOPED_SD_JWT_PREFIX) :])
    assert header["typ"] == "dc+sd-jwt"
    assert payload["cnf"]["jwk"] == json.loads(holder.read_text())

    for bad in (["--format", "jwt"], ["--format", "vc+jwt", "--cryptosuite", "eddsa-jcs-2022"]):
        refused = bpp(
            data_dir,
            "credentials",
            "issue",
            "-",
            "--org",
            "acme-cells",
            *bad,
            stdin=json.dumps(UNSIGNED),
        )
        assert refused.returncode == 2, refused.stdout
