"""Plain HTTP routes: health, DID documents, status lists and the battery-passport context."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from backend.chain.accreditation import accreditation_records
from backend.kit.errors import NotFoundError
from backend.orgs.service import validate_slug
from backend.runtime import Runtime
from credentials.contexts import context_bytes
from credentials.vocab import BATTERY_CONTEXT_URL


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def register_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> JSONResponse:
        body = await _runtime(request).health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/.well-known/did.json", tags=["identifiers"])
    async def platform_did(request: Request) -> Response:
        runtime = _runtime(request)
        return _did_response(runtime.platform.did_document(runtime.platform.did))

    @app.get("/orgs/{slug}/did.json", tags=["identifiers"])
    async def organisation_did(slug: str, request: Request) -> Response:
        validate_slug(slug)
        platform = _runtime(request).platform
        return _did_response(platform.did_document(platform.organisation_did(slug)))

    @app.get("/status/{list_id}", tags=["status"])
    async def status_list(list_id: str, request: Request) -> Response:
        runtime = _runtime(request)
        served = await runtime.issuance.status_list_credential(list_id)
        etag = f'"{served.etag}"'
        headers = {"Cache-Control": "public, max-age=30", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return JSONResponse(served.credential, media_type="application/vc", headers=headers)

    @app.get("/status/{list_id}/token", tags=["status"])
    async def status_list_token(list_id: str, request: Request) -> Response:
        """The same list as an IETF Token Status List (for SD-JWT VCs' `status` claims)."""
        served = await _runtime(request).issuance.status_list_token(list_id)
        etag = f'"{served.etag}"'
        headers = {"Cache-Control": "public, max-age=30", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(served.token, media_type="application/statuslist+jwt", headers=headers)

    @app.get("/snapshot/index.json", tags=["status"])
    async def snapshot_index(request: Request) -> JSONResponse:
        """What `bpp credentials snapshot` fetches for offline verification."""
        runtime = _runtime(request)
        body: dict[str, Any] = {"documents": await runtime.issuance.snapshot_urls()}
        if runtime.chain_services is not None:
            records = await accreditation_records(
                runtime.chain_services.accreditation, runtime.issuance.hosted_dids()
            )
            body["issuers"] = [record.to_json() for record in records]
        return JSONResponse(body, headers={"Cache-Control": "no-cache"})

    context_path = "/" + BATTERY_CONTEXT_URL.split("://", 1)[1].split("/", 1)[1]

    @app.get(context_path, tags=["identifiers"])
    async def battery_context() -> Response:
        return Response(
            context_bytes(BATTERY_CONTEXT_URL),
            media_type="application/ld+json",
            headers={"Cache-Control": "public, max-age=86400"},
        )


def _did_response(document: dict[str, Any] | None) -> Response:
    if document is None:
        raise NotFoundError("no such DID document")
    return JSONResponse(document, media_type="application/did+json")
