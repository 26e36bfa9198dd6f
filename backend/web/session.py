"""Who is looking at a page: `Authorization: Bearer` or the page session cookie.

The sign-in form posts either a token (a driver's access token or an organisation's API key)
or a driver's e-mail/phone and password; the accepted bearer token is kept in the HttpOnly,
SameSite=Lax `bpp_session` cookie and resolved like an `Authorization` header on every page
request, so pages decide with the same principals as the API. Signing out of a driver
session also ends its refresh-token family.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from starlette.requests import Request

from backend.auth.principal import ANONYMOUS, Principal
from backend.kit.errors import DomainError

if TYPE_CHECKING:
    from backend.runtime import Runtime

SESSION_COOKIE: Final = "bpp_session"
API_KEY_SESSION_S: Final = 8 * 3600
MAX_TOKEN_CHARS: Final = 4096


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        return header
    token = request.cookies.get(SESSION_COOKIE)
    return f"Bearer {token}" if token else None


async def resolve(runtime: Runtime, authorization: str | None) -> Principal:
    """The caller, or anonymous when nothing (or something refused) was presented."""
    if runtime.auth is None or not authorization:
        return ANONYMOUS
    try:
        return await runtime.auth.resolver.resolve_header(authorization)
    except DomainError:
        return ANONYMOUS


async def principal_of(runtime: Runtime, request: Request) -> Principal:
    return await resolve(runtime, bearer_of(request))


def plausible_token(token: str) -> bool:
    """A bearer token's shape: printable ASCII without spaces, bounded in length."""
    return (
        0 < len(token) <= MAX_TOKEN_CHARS
        and token.isascii()
        and token.isprintable()
        and " " not in token
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in or out: only the pages' own paths (no open redirect)."""
    if target and (target.startswith("/p/") or target == "/verify") and "//" not in target:
        return target
    return "/verify"
