"""The platform's verifier: the `credentials` verifier with the platform's own data sources.

DID documents and status lists the platform hosts are answered from its own key store and
database (no HTTP round trip to itself); anything else is fetched over HTTP with a bounded
size and time, and an unreachable source makes its checks `unknown`, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from backend.kit.errors import DomainError
from credentials.did import DidResolver
from credentials.errors import CredentialError, ErrorCode
from credentials.limits import parse_json_bounded
from credentials.verifier import ChainConsistency, IssuerAccreditation, Verifier

if TYPE_CHECKING:
    from backend.issuance.service import ServedStatusList, ServedStatusToken
    from backend.kit.db import Database
    from backend.platform import PlatformIdentity

_ORG_DID_PATH = re.compile(r"^/orgs/([a-z0-9-]{1,64})/did\.json$")
_STATUS_PATH = re.compile(r"^/status/([0-9a-f-]{36})$")
_STATUS_TOKEN_PATH = re.compile(r"^/status/([0-9a-f-]{36})/token$")
STATUS_TOKEN_MEDIA_TYPE = "application/statuslist+jwt"  # noqa: S105 - a media type
_MAX_REMOTE_BYTES = 2 * 1024 * 1024


class PlatformFetcher:
    """Fetches DID documents, status list credentials and status list tokens (a
    `statuslist+jwt` is returned as its compact string) for the verifier."""

    def __init__(
        self,
        platform: PlatformIdentity,
        serve_status_list: Callable[[str], Awaitable[ServedStatusList]],
        serve_status_token: Callable[[str], Awaitable[ServedStatusToken]] | None = None,
    ) -> None:
        self.platform = platform
        self.serve_status_list = serve_status_list
        self.serve_status_token = serve_status_token

    async def __call__(self, url: str) -> Any:
        base = self.platform.base_url
        if url.startswith(base + "/"):
            return await self._local(url[len(base) :])
        return await self._remote(url)

    async def _local(self, path: str) -> Any:
        if path == "/.well-known/did.json":
            document = self.platform.did_document(self.platform.did)
        elif match := _ORG_DID_PATH.match(path):
            document = self.platform.did_document(self.platform.organisation_did(match.group(1)))
        elif match := _STATUS_PATH.match(path):
            try:
                return (await self.serve_status_list(match.group(1))).credential
            except DomainError as exc:
                raise CredentialError(exc.message, code=ErrorCode.STATUS_LIST_ERROR) from None
        elif (match := _STATUS_TOKEN_PATH.match(path)) and self.serve_status_token is not None:
            try:
                return (await self.serve_status_token(match.group(1))).token
            except DomainError as exc:
                raise CredentialError(exc.message, code=ErrorCode.STATUS_LIST_ERROR) from None
        else:
            document = None
        if document is None:
            raise CredentialError(
                f"nothing is published at {path}", code=ErrorCode.DID_RESOLUTION_FAILED
            )
        return document

    async def _remote(self, url: str) -> Any:
        try:
            async with (
                httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client,
                client.stream(
                    "GET", url, headers={"Accept": f"application/json, {STATUS_TOKEN_MEDIA_TYPE}"}
                ) as reply,
            ):
                if reply.status_code != 200:
                    raise CredentialError(f"{url} answered {reply.status_code}")
                body = bytearray()
                async for chunk in reply.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_REMOTE_BYTES:
                        raise CredentialError(f"{url} is larger than {_MAX_REMOTE_BYTES} bytes")
                content_type = reply.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            raise CredentialError(f"cannot fetch {url}: {type(exc).__name__}") from None
        if content_type.split(";", 1)[0].strip() == STATUS_TOKEN_MEDIA_TYPE:
            try:
                return bytes(body).decode("ascii").strip()
            except UnicodeDecodeError:
                raise CredentialError(f"{url} is not a compact JWT") from None
        return parse_json_bounded(bytes(body))


class PlatformVerifier:
    def __init__(
        self,
        *,
        platform: PlatformIdentity,
        db: Database,
        serve_status_list: Callable[[str], Awaitable[ServedStatusList]],
        serve_status_token: Callable[[str], Awaitable[ServedStatusToken]] | None = None,
        accreditation: IssuerAccreditation | None = None,
        chain_check: ChainConsistency | None = None,
    ) -> None:
        self.db = db
        fetcher = PlatformFetcher(platform, serve_status_list, serve_status_token)
        # Keys created here invalidate at once; a rotation by `bpp keys rotate` in another
        # process shows within the same few seconds the signer cache takes.
        resolver = DidResolver(fetcher, cache_ttl_s=5.0)
        platform.key_listeners.append(resolver.invalidate)
        # The platform's own status lists are read fresh on every verification (they are
        # cached signed per revision by the issuance service), so a revocation shows at once.
        # The chain hooks report `issuer_accredited` and `chain_consistency`; the VC-API
        # policy reports them without requiring them (platform services require more).
        self.verifier = Verifier(
            fetcher=fetcher,
            did_resolver=resolver,
            status_list_ttl_s=0.0,
            accreditation=accreditation,
            chain=chain_check,
        )

    async def verify_credential(self, credential: dict[str, Any]) -> dict[str, Any]:
        result = await self.verifier.verify(credential)
        return result.to_json()
