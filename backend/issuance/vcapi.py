"""W3C VC-API endpoints: issue (as the caller's organisation) and verify.

`POST /credentials/issue` signs as the organisation of the API key — a missing `issuer` (or
an issuer object without `id`) becomes its DID, any other issuer is refused with 400 — so a
key can never issue as another organisation or as the platform. `options.format` picks Data
Integrity (default), `vc+jwt` or `dc+sd-jwt`; the JWT forms travel as an
`EnvelopedVerifiableCredential` (a `data:application/vc+jwt,` or
`data:application/dc+sd-jwt,` id) in both directions, and a `vp+jwt` presentation as an
`EnvelopedVerifiablePresentation`. Bad input is a 4xx problem detail, never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.auth.principal import Principal
from backend.issuance.service import CredentialFormat, parse_format, public_holder_jwk
from backend.kit.errors import DomainError, InvalidInputError
from backend.orgs.roles import CREDENTIAL_ISSUERS, Role
from backend.runtime import Runtime
from credentials.dataintegrity import Cryptosuite, parse_cryptosuite
from credentials.errors import CredentialError, DataModelError
from credentials.issuance import assign_issuer
from credentials.jose import unwrap_enveloped
from credentials.limits import parse_json_bounded
from credentials.model import validate_presentation
from credentials.verifier import VerificationResult

router = APIRouter(tags=["VC-API"])


class ProblemError(DomainError):
    """A VC-API refusal: 400 with the rule or code that was broken."""

    status_code = 400


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = parse_json_bounded(await request.body())
    except CredentialError as exc:
        raise ProblemError(exc.message) from None
    if not isinstance(body, dict):
        raise ProblemError("the request body must be a JSON object")
    return body


def _object(body: dict[str, Any], name: str, *, required: bool = True) -> dict[str, Any]:
    value = body.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"`{name}` must be a JSON object", field=name)
    return value


async def _principal(runtime: Runtime, request: Request) -> Principal:
    """The caller; a refused token is a 401 problem (expired, revoked, malformed)."""
    if runtime.auth is None:
        return Principal()
    return await runtime.auth.resolver.resolve_header(request.headers.get("authorization"))


def issuer_did_for(runtime: Runtime, principal: Principal) -> str:
    if principal.role is Role.PLATFORM:
        return runtime.platform.did
    assert principal.organisation_slug is not None
    return runtime.platform.organisation_did(principal.organisation_slug)


@router.post("/credentials/issue", status_code=201)
async def issue_credential(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    principal = await _principal(runtime, request)
    principal.require_role(CREDENTIAL_ISSUERS)
    body = await _body(request)
    credential = _object(body, "credential")
    options = _object(body, "options", required=False)
    credential_format = parse_format(options.get("format", CredentialFormat.DATA_INTEGRITY.value))
    if credential_format is not CredentialFormat.DATA_INTEGRITY and "cryptosuite" in options:
        raise ProblemError("options.cryptosuite is for Data Integrity only", field="cryptosuite")
    holder_jwk = _holder_jwk(options)
    try:
        suite = parse_cryptosuite(options.get("cryptosuite", Cryptosuite.ECDSA_RDFC_2019.value))
        unsigned = assign_issuer(credential, issuer_did_for(runtime, principal))
        async with runtime.db.unit_of_work() as session:
            row = await runtime.issuance.issue_credential(
                session,
                unsigned,
                cryptosuite=suite,
                credential_format=credential_format,
                holder_jwk=holder_jwk,
            )
    except CredentialError as exc:
        raise ProblemError(exc.message, field=getattr(exc, "rule", None)) from None
    return JSONResponse({"verifiableCredential": row.document}, status_code=201)


def _holder_jwk(options: dict[str, Any]) -> dict[str, Any] | None:
    """`options.holderJwk`: the holder's public JWK for an SD-JWT VC's `cnf` (checked)."""
    jwk = options.get("holderJwk")
    return None if jwk is None else public_holder_jwk(jwk)


def _problem_details(result: VerificationResult) -> list[dict[str, str]]:
    return [
        {
            "type": f"urn:bpp:check:{check.name}",
            "title": f"{check.name}: {check.status}",
            "detail": check.reason,
        }
        for check in result.checks
        if check.status in ("fail", "unknown")
    ]


async def _verify(
    runtime: Runtime, document: dict[str, Any], options: dict[str, Any]
) -> JSONResponse:
    challenge = options.get("challenge")
    domain = options.get("domain")
    if challenge is not None and not isinstance(challenge, str):
        raise InvalidInputError("options.challenge must be a string", field="challenge")
    if domain is not None and not isinstance(domain, str):
        raise InvalidInputError("options.domain must be a string", field="domain")
    result = await runtime.issuance.verifier.verifier.verify(
        document, challenge=challenge, domain=domain
    )
    return JSONResponse(
        {
            "verified": result.verified,
            "results": result.to_json()["checks"],
            "problemDetails": _problem_details(result),
        }
    )


def _enveloped(document: dict[str, Any], envelope_type: str) -> str | None:
    """The token of an enveloped credential / presentation; a data URL of the wrong kind
    or an envelope without one is a 400 (the verifier would only say `signature` fails)."""
    types = document.get("type")
    type_list = types if isinstance(types, list) else [types]
    token = unwrap_enveloped(document)
    if envelope_type not in type_list:
        return None
    if token is None or not token:
        raise ProblemError(f"an {envelope_type} needs a supported data: URL id", field="id")
    is_presentation = envelope_type == "EnvelopedVerifiablePresentation"
    if is_presentation != str(document["id"]).startswith("data:application/vp+jwt,"):
        raise ProblemError(f"the data: URL's media type does not fit {envelope_type}", field="id")
    return token


@router.post("/credentials/verify")
async def verify_credential(request: Request) -> JSONResponse:
    body = await _body(request)
    credential = _object(body, "verifiableCredential")
    _enveloped(credential, "EnvelopedVerifiableCredential")
    return await _verify(
        _runtime(request),
        credential,
        _object(body, "options", required=False),
    )


@router.post("/presentations/verify")
async def verify_presentation(request: Request) -> JSONResponse:
    body = await _body(request)
    presentation = _object(body, "verifiablePresentation")
    if _enveloped(presentation, "EnvelopedVerifiablePresentation") is None:
        try:
            validate_presentation(presentation)
        except DataModelError as exc:
            raise ProblemError(exc.message, field=exc.rule) from None
    return await _verify(_runtime(request), presentation, _object(body, "options", required=False))
