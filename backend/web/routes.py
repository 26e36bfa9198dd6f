"""The public pages: `/p/<uuid>` (what a battery's QR code opens), its status JSON and QR
images, `/verify`, and the page session (sign in / out)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from backend.audit.service import AuditTrail
from backend.kit.errors import DomainError
from backend.platform import PLATFORM_SLUG
from backend.web import qr
from backend.web.i18n import LANG_COOKIE, Messages, negotiate
from backend.web.passport import badge_of, find_battery, load_page, passport_credential
from backend.web.session import (
    API_KEY_SESSION_S,
    SESSION_COOKIE,
    bearer_of,
    plausible_token,
    principal_of,
    resolve,
    safe_next,
)
from backend.web.verify import (
    MAX_INPUT_BYTES,
    Document,
    PassportLink,
    VerifyInputError,
    classify,
    decode_upload,
)
from credentials.errors import CredentialError

if TYPE_CHECKING:
    from backend.runtime import Runtime

log = structlog.get_logger("bpp.web")

router = APIRouter(include_in_schema=False)

templates = Environment(
    loader=FileSystemLoader(str(__import__("pathlib").Path(__file__).parent / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

POLL_MS = 5000
QR_MAX_AGE_S = 86400


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _organisation_did(runtime: Runtime) -> Any:
    platform = runtime.platform

    def did(slug: str) -> str:
        return platform.did if slug == PLATFORM_SLUG else platform.organisation_did(slug)

    return did


def _lang(request: Request) -> str:
    return negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _security_headers(response: Response, nonce: str) -> Response:
    """Inline CSS and one inline script (by nonce); nothing loaded from elsewhere."""
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        f"script-src 'nonce-{nonce}'; connect-src 'self'; media-src 'self' blob: mediastream:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Vary", "Accept-Language, Cookie, Authorization")
    return response


def _page(
    request: Request,
    template: str,
    status_code: int = 200,
    *,
    private: bool = False,
    **context: Any,
) -> HTMLResponse:
    lang = _lang(request)
    nonce = secrets.token_urlsafe(16)
    html = templates.get_template(template).render(
        t=Messages(lang),
        lang=lang,
        other_lang="en" if lang == "ko" else "ko",
        path=request.url.path,
        nonce=nonce,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store" if private else "no-cache"
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    _security_headers(response, nonce)
    return response


def _not_found(request: Request, *, malformed: bool = False) -> HTMLResponse:
    key = "error.bad_request" if malformed else "error.not_found"
    return _page(request, "error.html", 404, title_key=f"{key}.title", message_key=key)


def _battery_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value.removeprefix("urn:uuid:")))
    except ValueError:
        return None


# ------------------------------------------------------------------------- passport page


@router.get("/p/{passport_id}", response_class=HTMLResponse)
async def passport_page(request: Request, passport_id: str) -> Response:
    battery_id = _battery_id(passport_id)
    if battery_id is None:
        return _not_found(request, malformed=True)
    runtime = _runtime(request)
    principal = await principal_of(runtime, request)
    audit = AuditTrail(principal, request.scope.get("state", {}).get("request_id"))
    async with runtime.db.read_only() as session:
        battery = await find_battery(session, battery_id)
        if battery is None:
            return _not_found(request)
        page = await load_page(
            session,
            principal,
            battery,
            organisation_did=_organisation_did(runtime),
            base_url=runtime.platform.base_url,
            audit=audit,
        )
    await audit.flush(runtime.db)
    verification = (
        await runtime.issuance.verify(page.credential.document)
        if page.credential is not None
        else None
    )
    url = qr.passport_url(runtime.platform.base_url, battery.id)
    return _page(
        request,
        "passport.html",
        private=principal.is_authenticated,
        page=page,
        verification=verification,
        principal=principal,
        qr_svg=qr.svg_inline(url),
        passport_url=url,
        poll_ms=POLL_MS,
        signin_failed=False,
    )


@router.get("/p/{passport_id}/status.json")
async def passport_status(request: Request, passport_id: str) -> JSONResponse:
    """The live badge: a small document the page polls."""
    battery_id = _battery_id(passport_id)
    headers = {"Cache-Control": "no-store"}
    if battery_id is None:
        return JSONResponse({"error": "not a passport id"}, 404, headers=headers)
    runtime = _runtime(request)
    async with runtime.db.read_only() as session:
        battery = await find_battery(session, battery_id)
        if battery is None:
            return JSONResponse({"error": "no such passport"}, 404, headers=headers)
        credential = await passport_credential(session, battery.id)
        badge = await badge_of(session, battery, credential, runtime.platform.base_url)
    t = Messages(_lang(request))
    return JSONResponse(
        {
            "passportId": f"urn:uuid:{battery.id}",
            "badge": badge,
            "label": t(f"badge.{badge}"),
            "help": t(f"badge.{badge}.help"),
            "credentialId": credential.credential_id if credential else None,
        },
        headers=headers,
    )


async def _qr_target(request: Request, passport_id: str) -> str | None:
    battery_id = _battery_id(passport_id)
    if battery_id is None:
        return None
    runtime = _runtime(request)
    async with runtime.db.read_only() as session:
        if await find_battery(session, battery_id) is None:
            return None
    return qr.passport_url(runtime.platform.base_url, battery_id)


def _qr_response(request: Request, body: bytes, media_type: str) -> Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": f"public, max-age={QR_MAX_AGE_S}", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/p/{passport_id}/qr.svg")
async def passport_qr_svg(request: Request, passport_id: str) -> Response:
    url = await _qr_target(request, passport_id)
    if url is None:
        return _not_found(request, malformed=_battery_id(passport_id) is None)
    return _qr_response(request, qr.svg(url), "image/svg+xml")


@router.get("/p/{passport_id}/qr.png")
async def passport_qr_png(request: Request, passport_id: str) -> Response:
    url = await _qr_target(request, passport_id)
    if url is None:
        return _not_found(request, malformed=_battery_id(passport_id) is None)
    return _qr_response(request, qr.png(url), "image/png")


# --------------------------------------------------------------------------------- verify


@router.get("/verify", response_class=HTMLResponse)
async def verify_form(request: Request) -> HTMLResponse:
    return _page(request, "verify.html", result=None, error_key=None, text="")


async def _submitted_text(request: Request) -> str:
    """The pasted text, or the uploaded file's, bounded before anything is parsed."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > 2 * MAX_INPUT_BYTES + 65536:
        raise VerifyInputError("error.too_large", 413)
    try:
        async with request.form(
            max_files=1, max_fields=8, max_part_size=2 * MAX_INPUT_BYTES
        ) as form:
            upload = form.get("file")
            if isinstance(upload, UploadFile) and upload.filename:
                raw = await upload.read(MAX_INPUT_BYTES + 1)
                if raw:
                    return decode_upload(raw)
            text = form.get("payload")
            return text if isinstance(text, str) else ""
    except HTTPException as error:  # the form parser's refusals: sizes, malformed bodies
        log.info("verify form refused", error=error.detail)
        too_large = "maximum size" in str(error.detail)
        raise VerifyInputError(
            "error.too_large" if too_large else "error.bad_form", 413 if too_large else 400
        ) from None


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(request: Request) -> HTMLResponse:
    runtime = _runtime(request)
    text = ""
    try:
        text = await _submitted_text(request)
        target = classify(text)
        battery_id = None
        if isinstance(target, PassportLink):
            async with runtime.db.read_only() as session:
                battery = await find_battery(session, target.battery_id)
                credential = await passport_credential(session, battery.id) if battery else None
            if credential is None:
                raise VerifyInputError("error.unknown_passport", 404)
            battery_id = target.battery_id
            target = Document(credential.document)
            kind = "passport"
        else:
            kind = "presentation" if target.is_presentation else "credential"
        try:
            result = await runtime.issuance.verifier.verifier.verify(target.value)
        except (CredentialError, DomainError, ValueError, TypeError, KeyError) as error:
            log.info("verify page input refused by the verifier", error=str(error))
            raise VerifyInputError("error.not_credential", 422) from None
    except VerifyInputError as error:
        return _page(
            request,
            "verify.html",
            error.status,
            result=None,
            error_key=error.key,
            text=text[:MAX_INPUT_BYTES],
        )
    document = target.value if isinstance(target.value, dict) else {}
    return _page(
        request,
        "verify.html",
        result=result.to_json(),
        kind=kind,
        battery_id=battery_id,
        issuer=_issuer(document),
        types=document.get("type"),
        error_key=None,
        text=text,
    )


def _issuer(document: dict[str, Any]) -> str | None:
    issuer = document.get("issuer") or document.get("holder")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


# -------------------------------------------------------------------------------- session


@router.post("/session")
async def sign_in(request: Request) -> Response:
    runtime = _runtime(request)
    form = await request.form(max_files=0, max_fields=8, max_part_size=8192)
    target = safe_next(str(form.get("next") or ""))
    token = str(form.get("token") or "").strip()
    identifier = str(form.get("identifier") or "").strip()
    password = str(form.get("password") or "")
    accepted: str | None = None
    max_age = API_KEY_SESSION_S
    if token and plausible_token(token):
        principal = await resolve(runtime, f"Bearer {token}")
        if principal.is_authenticated:
            accepted = token
    elif identifier and password and runtime.auth is not None and len(password) <= 1024:
        try:
            async with runtime.db.unit_of_work() as session:
                pair = await runtime.auth.drivers.login(session, identifier[:320], password)
            accepted, max_age = pair.access_token, pair.expires_in
        except DomainError:
            accepted = None
    if accepted is None:
        return _page(request, "signin.html", 401, next=target, signin_failed=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        accepted,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=runtime.platform.base_url.startswith("https://"),
        path="/",
    )
    return response


@router.post("/session/end")
async def sign_out(request: Request) -> Response:
    runtime = _runtime(request)
    form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
    principal = await resolve(runtime, bearer_of(request))
    if principal.is_driver and principal.session_id is not None and runtime.auth is not None:
        async with runtime.db.unit_of_work() as session:
            await runtime.auth.drivers.logout_current(session, principal)
    response = RedirectResponse(safe_next(str(form.get("next") or "")), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
