"""Credentials benchmark: ``python -m bench.credentials --json [--seconds N] [--js]``.

On ``shared/vectors/bench/passport-sized-unsigned.json`` (62 subject properties), in this
process (one core), for each Data Integrity cryptosuite:

* ``issue_per_s``: ``credentials.issue`` (data-model validation + proof) of a *different*
  credential every iteration (fresh ``id`` and one changed subject value);
* ``verify_per_s``: ``Verifier.verify`` of a different issued credential every iteration —
  full verification: data model, signature (issuer ``did:web`` document from the resolver's
  warm cache), validity period, revocation status (signed status list from the verifier's
  warm cache).

``--js`` also runs ``tests/credentials/interop/bench.mjs`` (Digital Bazaar vc 7.3, same
credential, same rules) in the same run and reports it under ``"js"``. ``vc+jwt`` is the
credential as a compact JWS (ES256); ``dc+sd-jwt`` is an SD-JWT VC of the subject claims,
every one selectively disclosable, with a Token Status List reference, presented with half
disclosed and a key-binding JWT. Verify pools are never cycled: each verification is of a
different credential (the pool is sized from the issue rate; the phase ends early if it runs
out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from credentials import (
    Bitstring,
    Cryptosuite,
    FileKeyStore,
    StaticDocumentFetcher,
    StatusListCredentialBuilder,
    Verifier,
    build_did_document,
    issue,
)
from credentials.jose import issue_vc_jwt
from credentials.keys import KeyPair
from credentials.sdjwt import issue_sd_jwt_vc, present_sd_jwt
from credentials.tokenstatus import TokenStatusList, issue_status_list_token, status_reference

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BPP_SHARED_DIR", ROOT.parent / "shared"))
INTEROP = ROOT / "tests" / "credentials" / "interop"
ISSUER = "did:web:bench.example:orgs:acme"
VCT = "https://w3id.org/battery-passport/vct/BatteryPassportCredential"
TOKEN_LIST_URI = "https://bench.example/status/1/token"  # noqa: S105 - a URL
TOKEN_LIST_SIZE = 131_072
SUITES = {
    "ecdsa-rdfc-2019": ("P-256", Cryptosuite.ECDSA_RDFC_2019),
    "eddsa-rdfc-2022": ("Ed25519", Cryptosuite.EDDSA_RDFC_2022),
    "ecdsa-jcs-2019": ("P-256", Cryptosuite.ECDSA_JCS_2019),
    "eddsa-jcs-2022": ("Ed25519", Cryptosuite.EDDSA_JCS_2022),
}


def _variant(base: dict[str, Any], counter: int) -> dict[str, Any]:
    """A different credential: fresh ``id`` and a changed subject value (``base`` is left
    alone; the unchanged nested values are shared, as nothing here mutates them)."""
    credential = dict(base)
    credential["id"] = f"urn:uuid:{uuid.uuid4()}"
    subject = dict(base["credentialSubject"])
    subject["batteryMass"] = 400 + counter % 1000 / 10
    credential["credentialSubject"] = subject
    return credential


def _rate(seconds: float, step: Any, limit: int | None = None) -> float:
    """Calls of ``step(i)`` per second for about ``seconds`` (or until ``limit`` calls: a
    verify pool is never cycled, so every verification is of a different credential)."""
    count = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + seconds
    while True:
        step(count)
        count += 1
        now = time.perf_counter()
        if now >= deadline or count == limit:
            elapsed = time.process_time() - cpu_start if CLOCK["cpu"] else now - start
            return round(count / elapsed, 1)


# --clock cpu: rates per second of this process's CPU time (one core's worth of work),
# which a loaded shared machine distorts far less than wall time
CLOCK = {"cpu": False}


def _pool_size(issue_rate: float, seconds: float) -> int:
    """Enough credentials for a verify phase of ``seconds`` at up to 1.5x the issue rate."""
    return max(200, int(issue_rate * seconds * 1.5))


def run(seconds: float) -> dict[str, Any]:
    """Measure every suite for about ``seconds`` per phase."""
    base = json.loads((SHARED / "vectors/bench/passport-sized-unsigned.json").read_text())
    base["issuer"] = ISSUER
    store = FileKeyStore(tempfile.mkdtemp(prefix="bench-keys-"), "bench")
    keys = {alg: store.create(ISSUER, alg) for alg in ("P-256", "Ed25519")}
    fetcher = StaticDocumentFetcher()
    fetcher.put_did_document(build_did_document(ISSUER, store.did_keys(ISSUER)))
    status = base["credentialStatus"]
    p256 = store.signer(keys["P-256"].key_id)
    fetcher.put(
        status["statusListCredential"],
        issue(
            StatusListCredentialBuilder(
                url=status["statusListCredential"], issuer=ISSUER, bitstring=Bitstring()
            ).build(),
            p256,
        ),
    )
    verifier = Verifier(fetcher=fetcher, status_list_ttl_s=3600)
    results: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    try:
        for name, (algorithm, suite) in SUITES.items():
            signer = store.signer(keys[algorithm].key_id)
            results[name] = _measure(
                name,
                base,
                signer=signer,
                suite=suite,
                verifier=verifier,
                loop=loop,
                seconds=seconds,
            )
        results["vc+jwt"] = _measure(
            "vc+jwt", base, signer=p256, suite=None, verifier=verifier, loop=loop, seconds=seconds
        )
        results["dc+sd-jwt"] = _measure_sd_jwt(
            base, p256, fetcher=fetcher, verifier=verifier, loop=loop, seconds=seconds
        )
    finally:
        loop.close()
    return results


def _measure(
    name: str,
    base: dict[str, Any],
    *,
    signer: Any,
    suite: Cryptosuite | None,
    verifier: Verifier,
    loop: asyncio.AbstractEventLoop,
    seconds: float,
) -> dict[str, float]:
    def issue_one(i: int) -> Any:
        if suite is None:
            return issue_vc_jwt(_variant(base, i), signer)
        return issue(_variant(base, i), signer, cryptosuite=suite)

    issue_one(0)  # warm: shape template, caches
    issue_rate = _rate(seconds, issue_one)
    pool = [issue_one(i) for i in range(_pool_size(issue_rate, seconds) + 1)]
    warm = pool.pop()

    def verify_one(i: int) -> None:
        result = loop.run_until_complete(verifier.verify(pool[i] if i >= 0 else warm))
        if not result.verified:
            raise SystemExit(f"{name}: verification failed: {result.to_json()}")

    verify_one(-1)
    return {"issue_per_s": issue_rate, "verify_per_s": _rate(seconds, verify_one, len(pool))}


def _measure_sd_jwt(
    base: dict[str, Any],
    signer: Any,
    *,
    fetcher: StaticDocumentFetcher,
    verifier: Verifier,
    loop: asyncio.AbstractEventLoop,
    seconds: float,
) -> dict[str, float]:
    """Every subject claim selectively disclosable, a Token Status List reference at a
    random index; presentations disclose half, with a key-binding JWT; verify = issuer
    signature, every disclosure, key binding, validity, status (signed status list token
    from the verifier's warm cache)."""
    holder = KeyPair.generate("P-256")
    names = sorted(base["credentialSubject"])
    half = {(n,) for n in names[::2]}
    statuses = TokenStatusList(TOKEN_LIST_SIZE, bits=1)
    fetcher.put(TOKEN_LIST_URI, issue_status_list_token(statuses, signer, uri=TOKEN_LIST_URI))

    def issue_one(i: int) -> str:
        claims = dict(_variant(base, i)["credentialSubject"])
        claims.pop("id", None)
        return issue_sd_jwt_vc(
            claims,
            signer,
            vct=VCT,
            issuer=ISSUER,
            holder_jwk=holder.public_jwk,
            status=status_reference(TOKEN_LIST_URI, secrets.randbelow(TOKEN_LIST_SIZE)),
        )

    issue_one(0)
    issue_rate = _rate(seconds, issue_one)
    pool = [
        present_sd_jwt(issue_one(i), half, holder=holder, nonce=f"n{i}", aud="https://bench")
        for i in range(_pool_size(issue_rate, seconds) + 1)
    ]

    def verify_one(i: int) -> None:
        result = loop.run_until_complete(
            verifier.verify(pool[i], challenge=f"n{i % len(pool)}", domain="https://bench")
        )
        if not result.verified:
            raise SystemExit(f"dc+sd-jwt: verification failed: {result.to_json()}")

    verify_one(-1)
    return {
        "issue_per_s": issue_rate,
        "verify_per_s": _rate(seconds, verify_one, len(pool) - 1),
    }


def run_js(seconds: float) -> dict[str, Any] | None:
    """Digital Bazaar's figures in this run (needs node and the interop node_modules)."""
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules").is_dir():
        return None
    done = subprocess.run(
        [node, str(INTEROP / "bench.mjs"), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--js", action="store_true", help="also measure @digitalbazaar/vc")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="divide by wall time (default) or by this process's CPU time (the JS figures "
        "are wall time either way)",
    )
    args = parser.parse_args()
    CLOCK["cpu"] = args.clock == "cpu"
    results = run(args.seconds)
    if args.js:
        results["js"] = run_js(args.seconds)
    if args.json:
        print(json.dumps(results))
    else:
        for name, figures in results.items():
            print(name, figures)


if __name__ == "__main__":
    main()
