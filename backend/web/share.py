"""`/share/<token>`: the buyer's page of a seller's share link (no account needed).

The page takes the buyer's nonce (`?nonce=`; a fresh one when none is given), has the
seller's credentials presented for it (only the disclosures the seller chose, key-bound to
that nonce), verifies the presentation exactly as `verifyPresentation` does and explains
each check — the /verify page's explanations plus the trade's service checks.
"""

from __future__ import annotations

import json
import secrets

from fastapi import Request
from fastapi.responses import HTMLResponse

from backend.kit.errors import DomainError
from backend.trade import service as trade
from backend.web import qr
from backend.web.routes import _page, _runtime, router


@router.get("/share/{token}", response_class=HTMLResponse)
async def share_page(request: Request, token: str) -> HTMLResponse:
    runtime = _runtime(request)
    nonce = request.query_params.get("nonce") or secrets.token_urlsafe(16)
    max_age = request.query_params.get("maxAgeDays", "")
    try:
        max_age_days = int(max_age) if max_age else trade.DEFAULT_INSPECTION_MAX_AGE_DAYS
    except ValueError:
        max_age_days = -1
    try:
        async with runtime.db.unit_of_work() as session:
            shared = await trade.present_share(session, runtime, token, nonce=nonce)
        result = await trade.verify_trade_presentation(
            runtime,
            shared.presentation,
            nonce=shared.nonce,
            audience=shared.audience,
            max_age_days=max_age_days,
        )
    except DomainError as error:
        status = error.status_code if 400 <= error.status_code < 500 else 400
        key = (
            "share.expired"
            if status == 410
            else ("share.bad_input" if status in (400, 422) else "share.not_found")
        )
        return _page(
            request, "error.html", status, private=True, title_key=f"{key}.title", message_key=key
        )
    url = trade.share_url(runtime, token)
    return _page(
        request,
        "share.html",
        private=True,
        result=result.to_json(),
        disclosed=trade.public_claims(result.inspection_claims) or {},
        passport=result.passport_claims or {},
        battery_id=shared.battery_id,
        buyer_nonce=shared.nonce,
        audience=shared.audience,
        expires_at=shared.expires_at,
        max_age_days=max_age_days,
        qr_svg=qr.svg_inline(url),
        presentation=json.dumps(shared.presentation, ensure_ascii=False, indent=1),
    )
