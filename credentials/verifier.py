"""The verifier: one async entry point for credentials and presentations.

The result serialises (``VerificationResult.to_json()``) to exactly::

    {"verified": bool,
     "checks": [{"name": str, "status": "pass"|"fail"|"unknown"|"skipped", "reason": str}],
     "snapshot_age_s": float | None}

Outside data comes through injected async interfaces, so the same verifier runs in the
server (local resolvers), in a buyer's CLI (HTTP fetchers) and offline (a
:class:`~credentials.snapshot.Snapshot`):

* DID documents and status list credentials: :class:`~credentials.did.DocumentFetcher`
  (URL → parsed JSON); ``did:key`` is resolved locally.
* issuer accreditation: :class:`IssuerAccreditation`;
* on-chain consistency of a status list: :class:`ChainConsistency`.

A check that needs outside data the verifier was not given is ``unknown``; a check the
policy does not require is ``skipped``; ``verified`` is true when no check failed and no
required check is unknown.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

from credentials import dataintegrity as di
from credentials import fastjson, jose, sdjwt, tokenstatus
from credentials.caching import SharedCache, text_key
from credentials.did import DidResolver, DocumentFetcher, VerificationMethod
from credentials.errors import CredentialError, DataModelError, ErrorCode
from credentials.limits import DEFAULT_LIMITS, Limits
from credentials.model import parse_datetime_stamp, validate_credential, validate_presentation
from credentials.statuslist import (
    ENTRY_TYPE,
    DecodedStatusList,
    StatusEntry,
    decode_status_list_credential,
    parse_status_entry,
)


class CheckName(StrEnum):
    """Names of the verifier's checks (services add their own names as plain strings)."""

    SCHEMA = "schema"
    SIGNATURE = "signature"
    VALIDITY_PERIOD = "validity_period"
    ISSUER_ACCREDITED = "issuer_accredited"
    STATUS_REVOCATION = "status_revocation"
    STATUS_SUSPENSION = "status_suspension"
    STATUS_MESSAGE = "status_message"
    CHAIN_CONSISTENCY = "chain_consistency"


class CheckStatus(StrEnum):
    """Outcome of one check."""

    PASS = "pass"  # noqa: S105 - an outcome name, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"


_STATUS_CHECKS: Final = {
    "revocation": CheckName.STATUS_REVOCATION,
    "suspension": CheckName.STATUS_SUSPENSION,
    "message": CheckName.STATUS_MESSAGE,
}
_ORDER: Final = tuple(CheckName)


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome."""

    name: str
    status: CheckStatus
    reason: str

    def to_json(self) -> dict[str, str]:
        """``{"name", "status", "reason"}``."""
        return {"name": str(self.name), "status": self.status.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The verifier's answer. ``credential_results`` holds, for a presentation, the result
    of each embedded credential (their checks also appear in ``checks``, with the reason
    prefixed by ``verifiableCredential[i]:``)."""

    verified: bool
    checks: tuple[Check, ...]
    snapshot_age_s: float | None = None
    credential_results: tuple[VerificationResult, ...] = ()
    claims: dict[str, Any] | None = None
    """For an SD-JWT VC: the disclosed claims (after every disclosure checked)."""

    @property
    def undetermined(self) -> bool:
        """Not verified, yet nothing failed: a required check is ``unknown`` (e.g. status
        or DID data unavailable offline). CLIs map this to exit code 3."""
        return not self.verified and not any(c.status is CheckStatus.FAIL for c in self.checks)

    def check(self, name: str) -> Check | None:
        """The first check called ``name`` (or None)."""
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The wire form (exactly three members)."""
        return {
            "verified": self.verified,
            "checks": [c.to_json() for c in self.checks],
            "snapshot_age_s": self.snapshot_age_s,
        }


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """Which checks are required. Status checks are required for every status entry the
    credential carries when ``require_present_status`` is set (the VC-API default)."""

    required: frozenset[str] = frozenset(
        {CheckName.SCHEMA, CheckName.SIGNATURE, CheckName.VALIDITY_PERIOD}
    )
    require_present_status: bool = True
    status_list_issuer_must_match: bool = True
    """Require the status list credential to be issued by the credential's issuer."""
    require_key_binding: bool = True
    """SD-JWT VCs must carry a key-binding JWT (nonce = ``challenge``, aud = ``domain``)."""
    clock_skew_s: float = 0.0

    def with_required(self, *names: str) -> VerificationPolicy:
        """A copy that also requires ``names``."""
        return replace(self, required=self.required | frozenset(names))


VC_API_POLICY: Final = VerificationPolicy()
"""VC-API default: schema, signature, validity period and every status entry present."""

PLATFORM_POLICY: Final = VC_API_POLICY.with_required(CheckName.ISSUER_ACCREDITED)
"""Platform services: the VC-API default plus issuer accreditation."""


class IssuerAccreditation(Protocol):
    """Answers whether an issuer was accredited for these credential types at a time."""

    async def is_accredited(
        self, issuer: str, credential_types: Sequence[str], at: datetime
    ) -> bool | None:
        """True / False, or None when it cannot be determined."""
        ...


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """Answer of a :class:`ChainConsistency` hook."""

    status: CheckStatus
    reason: str


class ChainConsistency(Protocol):
    """Checks a status list credential against the on-chain registry."""

    async def check_status_list(
        self, list_credential: Mapping[str, Any], decoded: DecodedStatusList
    ) -> ChainVerdict:
        """pass / fail / unknown with a reason."""
        ...


class AgedSource(Protocol):
    """A data source (a snapshot) that knows how old its data is."""

    def age_s(self, now: datetime) -> float:
        """Seconds since the data was taken."""
        ...


@dataclass(slots=True)
class _StatusListCacheEntry:
    expires: float
    credential: Any  # a status list credential (dict) or a statuslist+jwt (str)


@dataclass(slots=True)
class _Outcome:
    checks: dict[str, list[Check]] = field(default_factory=dict)

    def add(self, name: str, status: CheckStatus, reason: str) -> None:
        self.checks.setdefault(name, []).append(Check(name, status, reason))


def _merge(name: str, checks: list[Check]) -> Check:
    for status in (CheckStatus.FAIL, CheckStatus.UNKNOWN, CheckStatus.PASS, CheckStatus.SKIPPED):
        matching = [c for c in checks if c.status is status]
        if matching:
            return Check(name, status, "; ".join(c.reason for c in matching))
    return Check(name, CheckStatus.SKIPPED, "not applicable")


class Verifier:
    """Verifies credentials and presentations. Reuse one instance: it caches DID
    documents (through its resolver), status list credentials (``status_list_ttl_s``; 0 =
    fetch on every verification) and the verification outcome of each distinct status list
    credential text (``status_list_integrity_ttl_s``), so a list fetched fresh each time is
    only re-verified when it changed."""

    def __init__(
        self,
        *,
        fetcher: DocumentFetcher | None = None,
        did_resolver: DidResolver | None = None,
        status_fetcher: DocumentFetcher | None = None,
        accreditation: IssuerAccreditation | None = None,
        chain: ChainConsistency | None = None,
        policy: VerificationPolicy = VC_API_POLICY,
        limits: Limits = DEFAULT_LIMITS,
        snapshot: AgedSource | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        status_list_ttl_s: float = 60.0,
        status_list_integrity_ttl_s: float = 300.0,
    ) -> None:
        self._resolver = did_resolver or DidResolver(fetcher)
        self._status_fetcher = status_fetcher or fetcher
        self._accreditation = accreditation
        self._chain = chain
        self.policy = policy
        self.limits = limits
        self._snapshot = snapshot
        self._clock = clock
        self._status_ttl = status_list_ttl_s
        self._status_cache: dict[str, _StatusListCacheEntry] = {}
        self._integrity = SharedCache(maxsize=256)
        self._decoded = SharedCache(maxsize=64)
        self._integrity_ttl = status_list_integrity_ttl_s

    def invalidate_status_list(self, url: str | None = None) -> None:
        """Drop a cached status list credential (after publishing a change) or all."""
        if url is None:
            self._status_cache.clear()
        else:
            self._status_cache.pop(url, None)

    # ------------------------------------------------------------------ entry point

    async def verify(
        self,
        document: Any,
        *,
        challenge: str | None = None,
        domain: str | None = None,
        at: datetime | None = None,
        policy: VerificationPolicy | None = None,
    ) -> VerificationResult:
        """Verify a credential or a presentation.

        ``document`` is a JSON-LD credential or presentation (object, chosen by its
        ``type``), a compact ``vc+jwt`` string or an ``EnvelopedVerifiableCredential``
        carrying one, an SD-JWT VC (a string containing ``~``, or enveloped with a
        ``data:application/dc+sd-jwt,`` id), or a ``vp+jwt`` presentation (bare or enveloped
        with ``data:application/vp+jwt,``). ``challenge`` /
        ``domain`` are what the verifier expects in a presentation proof's challenge and
        domain, and in an SD-JWT key-binding JWT's ``nonce`` and ``aud``. ``at`` is the
        verification time (default: now).
        """
        now = at or self._clock()
        pol = policy or self.policy
        token = document if isinstance(document, str) else jose.unwrap_enveloped(document)
        if token is not None:
            if "~" in token:
                return await self._verify_sd_jwt(token, challenge, domain, now, pol)
            if jose.jwt_typ(token) == jose.VP_JWT_TYP:
                return await self._verify_vp_jwt(token, challenge, domain, now, pol)
            return await self._verify_jwt_credential(token, now, pol)
        types = document.get("type") if isinstance(document, dict) else None
        type_list = types if isinstance(types, list) else [types]
        if "VerifiablePresentation" in type_list:
            return await self._verify_presentation(document, challenge, domain, now, pol)
        return await self._verify_credential(document, now, pol)

    def _age(self, now: datetime) -> float | None:
        return None if self._snapshot is None else round(self._snapshot.age_s(now), 3)

    def _finish(
        self, outcome: _Outcome, policy: VerificationPolicy, required: set[str], now: datetime
    ) -> VerificationResult:
        checks: list[Check] = []
        names = list(_ORDER) + [n for n in outcome.checks if n not in _ORDER]
        for name in names:
            if name in outcome.checks:
                checks.append(_merge(name, outcome.checks[name]))
            elif name in _ORDER:
                checks.append(Check(name, CheckStatus.SKIPPED, "not applicable"))
        verified = all(c.status is not CheckStatus.FAIL for c in checks) and all(
            c.status is not CheckStatus.UNKNOWN for c in checks if c.name in required
        )
        return VerificationResult(verified, tuple(checks), self._age(now))

    # ------------------------------------------------------------------ credential

    async def _verify_sd_jwt(
        self,
        token: str,
        nonce: str | None,
        aud: str | None,
        now: datetime,
        policy: VerificationPolicy,
    ) -> VerificationResult:
        outcome = _Outcome()
        required = set(policy.required) | {"disclosures"}
        if policy.require_key_binding:
            required.add("key_binding")
        try:
            parsed = sdjwt.parse_sd_jwt(token)
        except CredentialError as exc:
            outcome.add(CheckName.SIGNATURE, CheckStatus.FAIL, exc.message)
            outcome.add("disclosures", CheckStatus.SKIPPED, "not parsed")
            outcome.add("key_binding", CheckStatus.SKIPPED, "not parsed")
            return self._finish(outcome, policy, required, now)
        header, payload = parsed.header, parsed.payload
        issuer = payload.get("iss")
        vct = payload.get("vct")
        if isinstance(issuer, str) and isinstance(vct, str):
            outcome.add(CheckName.SCHEMA, CheckStatus.PASS, f"SD-JWT VC of type {vct}")
        else:
            outcome.add(CheckName.SCHEMA, CheckStatus.FAIL, "iss and vct must be strings")
        kid = header.get("kid")
        signature = await self._sd_jwt_signature(parsed, kid, issuer)
        outcome.add(CheckName.SIGNATURE, *signature)
        self._check_jwt_times(payload, now, outcome, policy)
        if isinstance(issuer, str) and isinstance(vct, str):
            await self._check_accreditation({"type": [vct]}, issuer, now, outcome, policy)
        if "status" in payload:
            await self._check_token_status(
                payload["status"],
                issuer if isinstance(issuer, str) else None,
                now=now,
                outcome=outcome,
                policy=policy,
                required=required,
            )
        processed = sdjwt.process_disclosures(
            parsed,
            nonce=nonce,
            aud=aud,
            now=now.timestamp(),
            require_key_binding=policy.require_key_binding,
        )
        outcome.add(
            "disclosures",
            CheckStatus.PASS if processed.disclosures_ok else CheckStatus.FAIL,
            processed.disclosures_reason,
        )
        outcome.add("key_binding", CheckStatus(processed.key_binding), processed.key_binding_reason)
        if CheckName.CHAIN_CONSISTENCY not in outcome.checks:
            outcome.add(CheckName.CHAIN_CONSISTENCY, CheckStatus.SKIPPED, "no status list read")
        result = self._finish(outcome, policy, required, now)
        claims = processed.claims if processed.disclosures_ok else None
        return replace(result, claims=claims)

    async def _check_token_status(
        self,
        status: Any,
        issuer: str | None,
        *,
        now: datetime,
        outcome: _Outcome,
        policy: VerificationPolicy,
        required: set[str],
    ) -> None:
        revocation, suspension = CheckName.STATUS_REVOCATION, CheckName.STATUS_SUSPENSION
        if policy.require_present_status:
            required.update((revocation, suspension))

        def both(status_value: CheckStatus, reason: str) -> None:
            outcome.add(revocation, status_value, reason)
            outcome.add(suspension, status_value, reason)

        try:
            uri, index = tokenstatus.parse_reference(status)
        except CredentialError as exc:
            both(CheckStatus.FAIL, f"malformed status claim: {exc.message}")
            return
        try:
            cached = await self._load_status_list(uri)
            token = tokenstatus.parse_status_list_token(cached.credential)
        except CredentialError as exc:
            both(CheckStatus.UNKNOWN, f"status list token {uri} unavailable: {exc.message}")
            return
        if token.payload.get("sub") != uri:
            both(CheckStatus.FAIL, f"status list token sub is not {uri}")
            return
        signer_did = token.kid.split("#", 1)[0]
        if policy.status_list_issuer_must_match and signer_did != issuer:
            both(CheckStatus.FAIL, f"status list token signed by {signer_did}, not {issuer}")
            return
        exp = token.payload.get("exp")
        if isinstance(exp, int | float) and exp < now.timestamp() - policy.clock_skew_s:
            both(CheckStatus.UNKNOWN, "status list token expired")
            return
        integrity = await self._token_integrity(token, str(cached.credential))
        if integrity is not None:
            both(*integrity)
            return
        try:
            value = token.status_list().get(index)
        except CredentialError as exc:
            both(CheckStatus.FAIL, exc.message)
            return
        if value == tokenstatus.INVALID:
            outcome.add(revocation, CheckStatus.FAIL, "status 0x1: invalid (revoked)")
            outcome.add(suspension, CheckStatus.PASS, "not suspended")
        elif value == tokenstatus.SUSPENDED:
            outcome.add(revocation, CheckStatus.PASS, "not revoked")
            outcome.add(suspension, CheckStatus.FAIL, "status 0x2: suspended")
        else:
            both(CheckStatus.PASS, "valid" if value == tokenstatus.VALID else "not revoked")
            if value != tokenstatus.VALID:
                outcome.add(CheckName.STATUS_MESSAGE, CheckStatus.PASS, f"status {hex(value)}")

    async def _token_integrity(
        self, token: tokenstatus.StatusListToken, text: str
    ) -> tuple[CheckStatus, str] | None:
        key = text_key(text)
        mono = time.monotonic()
        hit: tuple[float, tuple[CheckStatus, str] | None] | None = self._integrity.get(key)
        if hit is not None and hit[0] > mono:
            return hit[1]
        try:
            method = await self._resolver.verification_method(token.kid)
        except CredentialError as exc:
            if exc.code is ErrorCode.DID_RESOLUTION_FAILED:
                return CheckStatus.UNKNOWN, f"cannot resolve {token.kid}: {exc.message}"
            result: tuple[CheckStatus, str] | None = (CheckStatus.FAIL, exc.message)
        else:
            if "assertionMethod" not in method.relationships:
                result = (CheckStatus.FAIL, f"{token.kid} is not authorised for assertionMethod")
            elif not token.verify_signature(method.public_key):
                result = (CheckStatus.FAIL, "status list token signature does not match")
            else:
                result = None
        self._integrity.put(key, (mono + self._integrity_ttl, result))
        return result

    async def _sd_jwt_signature(
        self, parsed: sdjwt.ParsedSdJwt, kid: Any, issuer: Any
    ) -> tuple[CheckStatus, str]:
        if not isinstance(kid, str) or "#" not in kid:
            return CheckStatus.FAIL, "kid must be a DID URL"
        if not isinstance(issuer, str) or kid.split("#", 1)[0] != issuer:
            return CheckStatus.FAIL, f"kid {kid} is not controlled by iss {issuer}"
        try:
            method = await self._resolver.verification_method(kid)
        except CredentialError as exc:
            if exc.code is ErrorCode.DID_RESOLUTION_FAILED:
                return CheckStatus.UNKNOWN, f"cannot resolve {kid}: {exc.message}"
            return CheckStatus.FAIL, exc.message
        if "assertionMethod" not in method.relationships:
            return CheckStatus.FAIL, f"{kid} is not authorised for assertionMethod"
        if parsed.issuer_signature_ok(method.public_key):
            return CheckStatus.PASS, "dc+sd-jwt issuer signature valid"
        return CheckStatus.FAIL, "dc+sd-jwt issuer signature does not match"

    def _check_jwt_times(
        self,
        payload: Mapping[str, Any],
        now: datetime,
        outcome: _Outcome,
        policy: VerificationPolicy,
    ) -> None:
        name = CheckName.VALIDITY_PERIOD
        if name not in policy.required:
            outcome.add(name, CheckStatus.SKIPPED, "not required by policy")
            return
        stamp = now.timestamp()
        skew = policy.clock_skew_s
        for claim in ("iat", "nbf", "exp"):
            value = payload.get(claim)
            if value is not None and not isinstance(value, int | float):
                outcome.add(name, CheckStatus.FAIL, f"{claim} must be a number")
                return
        nbf, exp = payload.get("nbf"), payload.get("exp")
        if isinstance(nbf, int | float) and nbf - stamp > skew:
            outcome.add(name, CheckStatus.FAIL, "not valid yet (nbf)")
        elif isinstance(exp, int | float) and stamp - exp > skew:
            outcome.add(name, CheckStatus.FAIL, "expired (exp)")
        else:
            outcome.add(name, CheckStatus.PASS, "within the validity period")

    async def _verify_jwt_credential(
        self, token: str, now: datetime, policy: VerificationPolicy
    ) -> VerificationResult:
        try:
            parsed = jose.parse_vc_jwt(token)
        except CredentialError as exc:
            outcome = _Outcome()
            outcome.add(CheckName.SIGNATURE, CheckStatus.FAIL, exc.message)
            return self._finish(outcome, policy, set(policy.required), now)
        return await self._verify_credential(parsed.payload, now, policy, jwt=parsed)

    async def _check_jwt_signature(
        self, parsed: jose.ParsedJwt, issuer: str | None, outcome: _Outcome
    ) -> None:
        name = CheckName.SIGNATURE
        kid = str(parsed.header["kid"])
        if issuer is None or kid.split("#", 1)[0] != issuer:
            outcome.add(name, CheckStatus.FAIL, f"kid {kid} is not controlled by {issuer}")
            return
        try:
            method = await self._resolver.verification_method(kid)
        except CredentialError as exc:
            status = (
                CheckStatus.UNKNOWN
                if exc.code is ErrorCode.DID_RESOLUTION_FAILED
                else CheckStatus.FAIL
            )
            outcome.add(name, status, f"cannot resolve {kid}: {exc.message}")
            return
        if "assertionMethod" not in method.relationships:
            outcome.add(name, CheckStatus.FAIL, f"{kid} is not authorised for assertionMethod")
            return
        ok, reason = jose.check_jws_signature(parsed, method.public_key)
        outcome.add(name, CheckStatus.PASS if ok else CheckStatus.FAIL, reason)

    async def _verify_credential(
        self,
        document: Any,
        now: datetime,
        policy: VerificationPolicy,
        *,
        jwt: jose.ParsedJwt | None = None,
    ) -> VerificationResult:
        outcome = _Outcome()
        required = set(policy.required)
        try:
            validate_credential(document, limits=self.limits)
        except DataModelError as exc:
            outcome.add(CheckName.SCHEMA, CheckStatus.FAIL, f"{exc.rule}: {exc.message}")
            return self._finish(outcome, policy, required, now)
        outcome.add(CheckName.SCHEMA, CheckStatus.PASS, "VC Data Model 2.0 rules hold")
        issuer = _issuer_id(document)
        if jwt is not None:
            await self._check_jwt_signature(jwt, issuer, outcome)
        else:
            await self._check_signature(document, issuer, "assertionMethod", outcome, now)
        self._check_validity(document, now, outcome, policy)
        await self._check_accreditation(document, issuer, now, outcome, policy)
        await self._check_status(
            document, issuer=issuer, now=now, outcome=outcome, policy=policy, required=required
        )
        if CheckName.CHAIN_CONSISTENCY not in outcome.checks:
            # no status list was read (none present, or it could not be): nothing to compare
            outcome.add(
                CheckName.CHAIN_CONSISTENCY, CheckStatus.SKIPPED, "no status list to compare"
            )
        return self._finish(outcome, policy, required, now)

    async def _check_signature(
        self,
        document: Mapping[str, Any],
        controller: str | None,
        purpose: str,
        outcome: _Outcome,
        now: datetime,
        *,
        challenge: str | None = None,
        domain: str | None = None,
    ) -> None:
        name = CheckName.SIGNATURE
        try:
            proofs = di.proofs_of(document)
        except CredentialError as exc:
            outcome.add(name, CheckStatus.FAIL, exc.message)
            return
        if not proofs:
            outcome.add(name, CheckStatus.FAIL, "no proof")
            return
        if len(proofs) > self.limits.max_proofs:
            outcome.add(name, CheckStatus.FAIL, f"more than {self.limits.max_proofs} proofs")
            return
        for proof in proofs:
            status, reason = await self._check_one_proof(
                document,
                proof,
                controller=controller,
                purpose=purpose,
                now=now,
                challenge=challenge,
                domain=domain,
            )
            outcome.add(name, status, reason)

    async def _check_one_proof(
        self,
        document: Mapping[str, Any],
        proof: Mapping[str, Any],
        *,
        controller: str | None,
        purpose: str,
        now: datetime,
        challenge: str | None,
        domain: str | None,
    ) -> tuple[CheckStatus, str]:
        try:
            di.check_proof_shape(proof)
        except CredentialError as exc:
            return CheckStatus.FAIL, exc.message
        if proof.get("proofPurpose") != purpose:
            return CheckStatus.FAIL, f"proofPurpose must be {purpose}"
        for member in ("created", "expires"):
            if member in proof:
                try:
                    when = parse_datetime_stamp(proof[member], f"proof.{member}")
                except DataModelError as exc:
                    return CheckStatus.FAIL, exc.message
                if member == "expires" and when < now:
                    return CheckStatus.FAIL, "proof has expired"
        if challenge is not None and proof.get("challenge") != challenge:
            return CheckStatus.FAIL, "proof challenge does not match the expected challenge"
        if domain is not None:
            got = proof.get("domain")
            domains = got if isinstance(got, list) else [got]
            if domain not in domains:
                return CheckStatus.FAIL, "proof domain does not match the expected domain"
        vm_id = str(proof["verificationMethod"])
        if controller is not None and vm_id.split("#", 1)[0] != controller:
            return CheckStatus.FAIL, f"{vm_id} is not controlled by {controller}"
        try:
            method: VerificationMethod = await self._resolver.verification_method(vm_id)
        except CredentialError as exc:
            if exc.code is ErrorCode.DID_RESOLUTION_FAILED:
                return CheckStatus.UNKNOWN, f"cannot resolve {vm_id}: {exc.message}"
            return CheckStatus.FAIL, exc.message
        if purpose not in method.relationships:
            return CheckStatus.FAIL, f"{vm_id} is not authorised for {purpose}"
        try:
            result = di.verify_proof(
                document, proof, method.public_key, max_work=self.limits.max_rdfc_work
            )
        except CredentialError as exc:
            return CheckStatus.FAIL, f"{exc.code}: {exc.message}"
        return (CheckStatus.PASS if result.verified else CheckStatus.FAIL), result.reason

    def _check_validity(
        self,
        document: Mapping[str, Any],
        now: datetime,
        outcome: _Outcome,
        policy: VerificationPolicy,
    ) -> None:
        name = CheckName.VALIDITY_PERIOD
        if name not in policy.required:
            outcome.add(name, CheckStatus.SKIPPED, "not required by policy")
            return
        skew = policy.clock_skew_s
        if "validFrom" in document:
            start = parse_datetime_stamp(document["validFrom"], "validFrom")
            if (start - now).total_seconds() > skew:
                outcome.add(name, CheckStatus.FAIL, f"not valid before {document['validFrom']}")
                return
        if "validUntil" in document:
            end = parse_datetime_stamp(document["validUntil"], "validUntil")
            if (now - end).total_seconds() > skew:
                outcome.add(name, CheckStatus.FAIL, f"expired at {document['validUntil']}")
                return
        outcome.add(name, CheckStatus.PASS, "within the validity period")

    async def _check_accreditation(
        self,
        document: Mapping[str, Any],
        issuer: str | None,
        now: datetime,
        outcome: _Outcome,
        policy: VerificationPolicy,
    ) -> None:
        name = CheckName.ISSUER_ACCREDITED
        if name not in policy.required:
            outcome.add(name, CheckStatus.SKIPPED, "not required by policy")
            return
        if self._accreditation is None or issuer is None:
            outcome.add(name, CheckStatus.UNKNOWN, "no issuer registry available")
            return
        types = document.get("type")
        type_list = [t for t in (types if isinstance(types, list) else [types]) if t]
        try:
            answer = await self._accreditation.is_accredited(issuer, type_list, now)
        except CredentialError as exc:
            answer = None
            reason = exc.message
        else:
            reason = ""
        if answer is True:
            outcome.add(name, CheckStatus.PASS, f"{issuer} accredited for {type_list}")
        elif answer is False:
            outcome.add(name, CheckStatus.FAIL, f"{issuer} not accredited for {type_list}")
        else:
            outcome.add(name, CheckStatus.UNKNOWN, reason or "issuer registry cannot tell")

    async def _check_status(
        self,
        document: Mapping[str, Any],
        *,
        issuer: str | None,
        now: datetime,
        outcome: _Outcome,
        policy: VerificationPolicy,
        required: set[str],
    ) -> None:
        raw = document.get("credentialStatus")
        if raw is None:
            return
        entries = raw if isinstance(raw, list) else [raw]
        for raw_entry in entries:
            purpose = raw_entry.get("statusPurpose") if isinstance(raw_entry, dict) else None
            name = _STATUS_CHECKS.get(str(purpose))
            if name is None:
                continue  # e.g. "refresh", or a foreign entry without a purpose we check
            if policy.require_present_status:
                required.add(name)
            elif name not in policy.required:
                outcome.add(name, CheckStatus.SKIPPED, "not required by policy")
                continue
            if raw_entry.get("type") != ENTRY_TYPE:
                outcome.add(
                    name, CheckStatus.UNKNOWN, f"status type {raw_entry.get('type')!r} unsupported"
                )
                continue
            await self._check_one_status(
                raw_entry, name, issuer=issuer, now=now, outcome=outcome, policy=policy
            )

    async def _load_status_list(self, url: str) -> _StatusListCacheEntry:
        mono = time.monotonic()
        hit = self._status_cache.get(url)
        if hit is not None and hit.expires > mono:
            return hit
        if self._status_fetcher is None:
            raise CredentialError("no status list source", code=ErrorCode.STATUS_LIST_ERROR)
        credential = await self._status_fetcher(url)
        if not isinstance(credential, dict | str):
            raise CredentialError(f"{url} did not return a status list")
        entry = _StatusListCacheEntry(mono + self._status_ttl, credential)
        self._status_cache[url] = entry
        return entry

    async def _check_one_status(
        self,
        raw_entry: Mapping[str, Any],
        name: str,
        *,
        issuer: str | None,
        now: datetime,
        outcome: _Outcome,
        policy: VerificationPolicy,
    ) -> None:
        try:
            entry = parse_status_entry(raw_entry)
        except CredentialError as exc:
            outcome.add(name, CheckStatus.FAIL, f"malformed status entry: {exc.message}")
            return
        url = entry.status_list_credential
        try:
            cached = await self._load_status_list(url)
        except CredentialError as exc:
            outcome.add(name, CheckStatus.UNKNOWN, f"status list {url} unavailable: {exc.message}")
            return
        list_credential = cached.credential
        if not isinstance(list_credential, dict):
            outcome.add(name, CheckStatus.FAIL, f"{url} is not a status list credential")
            return
        problem = await self._status_list_problem(cached, url, issuer, now, policy)
        if problem is not None:
            outcome.add(name, *problem)
            return
        try:
            decoded = self._decoded_list(list_credential, entry.status_size)
        except CredentialError as exc:
            outcome.add(name, CheckStatus.FAIL, f"status list {url}: {exc.message}")
            return
        if entry.status_purpose not in decoded.purposes:
            outcome.add(name, CheckStatus.FAIL, "status list purpose does not match the entry")
            return
        try:
            value = decoded.bitstring.get(entry.status_list_index)
        except CredentialError as exc:
            outcome.add(name, CheckStatus.FAIL, exc.message)
            return
        outcome.add(name, *_status_outcome(entry, value))
        await self._check_chain(list_credential, decoded, outcome, policy)

    async def _status_list_problem(
        self,
        cached: _StatusListCacheEntry,
        url: str,
        issuer: str | None,
        now: datetime,
        policy: VerificationPolicy,
    ) -> tuple[CheckStatus, str] | None:
        list_credential = cached.credential
        if list_credential.get("id") not in (None, url):
            return CheckStatus.FAIL, f"status list credential id is not {url}"
        list_issuer = _issuer_id(list_credential)
        if policy.status_list_issuer_must_match and list_issuer != issuer:
            return CheckStatus.FAIL, f"status list issued by {list_issuer}, not {issuer}"
        integrity = await self._integrity_of(list_credential, list_issuer, now)
        if integrity is not None:
            return integrity
        inner = _Outcome()
        self._check_validity(list_credential, now, inner, VC_API_POLICY)
        validity = _merge(CheckName.VALIDITY_PERIOD, inner.checks[CheckName.VALIDITY_PERIOD])
        if validity.status is not CheckStatus.PASS:
            return CheckStatus.UNKNOWN, f"status list credential {validity.reason}"
        return None

    def _decoded_list(
        self, list_credential: Mapping[str, Any], status_size: int
    ) -> DecodedStatusList:
        """The decoded list of a status list credential, remembered by the credential's
        exact JSON and the entry's status size (inflating a 16 KiB list on every
        verification costs more than the rest of the status check). Read-only use."""
        key = (_credential_key(list_credential), status_size)
        hit: DecodedStatusList | None = self._decoded.get(key)
        if hit is None:
            hit = decode_status_list_credential(list_credential, status_size=status_size)
            self._decoded.put(key, hit)
        return hit

    async def _integrity_of(
        self, list_credential: Mapping[str, Any], list_issuer: str | None, now: datetime
    ) -> tuple[CheckStatus, str] | None:
        """Data-model + proof outcome of a status list credential, remembered by its exact
        JSON text for ``status_list_integrity_ttl_s`` (the same bytes verify the same way;
        not kept when a proof expires or the outcome is unknown)."""
        key = _credential_key(list_credential)
        mono = time.monotonic()
        hit: tuple[float, tuple[CheckStatus, str] | None] | None = self._integrity.get(key)
        if hit is not None and hit[0] > mono:
            return hit[1]
        integrity = await self._status_list_integrity(list_credential, list_issuer, now)
        expiring = any("expires" in p for p in di.proofs_of(list_credential))
        unknown = integrity is not None and integrity[0] is CheckStatus.UNKNOWN
        if not expiring and not unknown:
            self._integrity.put(key, (mono + self._integrity_ttl, integrity))
        return integrity

    async def _status_list_integrity(
        self, list_credential: Mapping[str, Any], list_issuer: str | None, now: datetime
    ) -> tuple[CheckStatus, str] | None:
        try:
            validate_credential(list_credential, limits=self.limits)
        except DataModelError as exc:
            return CheckStatus.FAIL, f"status list credential invalid: {exc.message}"
        inner = _Outcome()
        await self._check_signature(list_credential, list_issuer, "assertionMethod", inner, now)
        sig = _merge(CheckName.SIGNATURE, inner.checks.get(CheckName.SIGNATURE, []))
        if sig.status is not CheckStatus.PASS:
            return sig.status, f"status list credential signature: {sig.reason}"
        return None

    async def _check_chain(
        self,
        list_credential: Mapping[str, Any],
        decoded: DecodedStatusList,
        outcome: _Outcome,
        policy: VerificationPolicy,
    ) -> None:
        name = CheckName.CHAIN_CONSISTENCY
        if name not in policy.required:
            outcome.add(name, CheckStatus.SKIPPED, "not required by policy")
            return
        if self._chain is None:
            outcome.add(name, CheckStatus.UNKNOWN, "no chain access")
            return
        try:
            verdict = await self._chain.check_status_list(list_credential, decoded)
        except CredentialError as exc:
            outcome.add(name, CheckStatus.UNKNOWN, exc.message)
            return
        outcome.add(name, verdict.status, verdict.reason)

    # ------------------------------------------------------------------ presentation

    async def _verify_vp_jwt(
        self,
        token: str,
        challenge: str | None,
        domain: str | None,
        now: datetime,
        policy: VerificationPolicy,
    ) -> VerificationResult:
        try:
            parsed = jose.parse_vc_jwt(token, jose.VP_JWT_TYP)
        except CredentialError as exc:
            outcome = _Outcome()
            outcome.add(CheckName.SIGNATURE, CheckStatus.FAIL, f"presentation: {exc.message}")
            return self._finish(outcome, policy, set(policy.required), now)
        # nonce / aud are JWT claims of the envelope, not members of the presentation
        presentation = {k: v for k, v in parsed.payload.items() if k not in ("nonce", "aud")}
        return await self._verify_presentation(
            presentation, challenge, domain, now, policy, jwt=parsed
        )

    async def _check_vp_jwt(
        self,
        parsed: jose.ParsedJwt,
        holder: str | None,
        challenge: str | None,
        domain: str | None,
        outcome: _Outcome,
    ) -> None:
        """Holder binding of a ``vp+jwt``: ``kid`` of the holder, for ``authentication``,
        ``nonce`` = the expected challenge and ``aud`` containing the expected domain."""
        name = CheckName.SIGNATURE
        payload = parsed.payload
        if challenge is not None and payload.get("nonce") != challenge:
            outcome.add(name, CheckStatus.FAIL, "vp+jwt nonce does not match the challenge")
            return
        audience = payload.get("aud")
        if domain is not None and domain not in (
            audience if isinstance(audience, list) else [audience]
        ):
            outcome.add(name, CheckStatus.FAIL, "vp+jwt aud does not match the domain")
            return
        kid = str(parsed.header["kid"])
        if holder is None or kid.split("#", 1)[0] != holder:
            outcome.add(name, CheckStatus.FAIL, f"kid {kid} is not controlled by holder {holder}")
            return
        try:
            method = await self._resolver.verification_method(kid)
        except CredentialError as exc:
            status = (
                CheckStatus.UNKNOWN
                if exc.code is ErrorCode.DID_RESOLUTION_FAILED
                else CheckStatus.FAIL
            )
            outcome.add(name, status, f"cannot resolve {kid}: {exc.message}")
            return
        if "authentication" not in method.relationships:
            outcome.add(name, CheckStatus.FAIL, f"{kid} is not authorised for authentication")
            return
        ok, reason = jose.check_jws_signature(parsed, method.public_key)
        outcome.add(name, CheckStatus.PASS if ok else CheckStatus.FAIL, reason)

    async def _verify_presentation(
        self,
        document: Mapping[str, Any],
        challenge: str | None,
        domain: str | None,
        now: datetime,
        policy: VerificationPolicy,
        *,
        jwt: jose.ParsedJwt | None = None,
    ) -> VerificationResult:
        outcome = _Outcome()
        required = set(policy.required)
        try:
            validate_presentation(document, limits=self.limits)
        except DataModelError as exc:
            outcome.add(
                CheckName.SCHEMA, CheckStatus.FAIL, f"presentation: {exc.rule}: {exc.message}"
            )
            return self._finish(outcome, policy, required, now)
        outcome.add(CheckName.SCHEMA, CheckStatus.PASS, "presentation: data model rules hold")
        holder = document.get("holder")
        holder_id = holder.get("id") if isinstance(holder, dict) else holder
        holder_did = holder_id if isinstance(holder_id, str) else None
        inner = _Outcome()
        if jwt is not None:
            await self._check_vp_jwt(jwt, holder_did, challenge, domain, inner)
        else:
            await self._check_signature(
                document,
                holder_did,
                "authentication",
                inner,
                now,
                challenge=challenge,
                domain=domain,
            )
        for check in inner.checks.get(CheckName.SIGNATURE, []):
            outcome.add(CheckName.SIGNATURE, check.status, f"presentation: {check.reason}")
        results = []
        raw = document.get("verifiableCredential", [])
        for index, credential in enumerate(raw if isinstance(raw, list) else [raw]):
            token = jose.unwrap_enveloped(credential)
            if token is not None and "~" not in token and jose.jwt_typ(token) == jose.VC_JWT_TYP:
                result = await self._verify_jwt_credential(token, now, policy)
            elif isinstance(credential, dict) and str(credential.get("id", "")).startswith("data:"):
                outcome.add(
                    CheckName.SIGNATURE,
                    CheckStatus.UNKNOWN,
                    f"verifiableCredential[{index}]: enveloped credentials are not verified here",
                )
                continue
            else:
                result = await self._verify_credential(credential, now, policy)
            results.append(result)
            for check in result.checks:
                if check.status is CheckStatus.SKIPPED:
                    continue
                outcome.add(
                    check.name, check.status, f"verifiableCredential[{index}]: {check.reason}"
                )
                if not result.verified and check.status is CheckStatus.UNKNOWN:
                    required.add(check.name)
        final = self._finish(outcome, policy, required, now)
        verified = final.verified and all(r.verified for r in results)
        return VerificationResult(verified, final.checks, final.snapshot_age_s, tuple(results))


def _credential_key(document: Mapping[str, Any]) -> bytes:
    """Cache key of a (status list) credential: SHA-256 of its exact JSON."""
    return hashlib.sha256(fastjson.dumps(document)).digest()


def _issuer_id(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _status_outcome(entry: StatusEntry, value: int) -> tuple[CheckStatus, str]:
    message = next((m.message for m in entry.status_messages if m.status == value), None)
    label = f"status {hex(value)}" + (f" ({message})" if message else "")
    if entry.status_purpose == "message":
        return CheckStatus.PASS, label
    if value == 0:
        state = {"revocation": "revoked", "suspension": "suspended"}.get(entry.status_purpose)
        return CheckStatus.PASS, f"not {state or 'set'}"
    return CheckStatus.FAIL, f"{entry.status_purpose}: {label}"
