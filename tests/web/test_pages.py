"""The public pages without a browser (httpx on the ASGI app): status codes, language, who
sees the restricted section, the audit of that read, QR codes, the page session, /verify."""

from __future__ import annotations

import copy
import io
import json
import re
import uuid

import httpx
import pytest
import zxingcpp
from PIL import Image
from sqlmodel import col, func, select

from backend.audit.models import AuditEntry
from backend.runtime import Runtime
from backend.web.i18n import CATALOGUES, negotiate, parse_accept_language
from backend.web.session import SESSION_COOKIE
from backend.web.verify import MAX_INPUT_BYTES
from tests.web.conftest import make_keys
from tests.web.seed import PASSWORD, Seeded, revoke_passport, seed

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(token: str) -> dict[str, str]:
    return {"cookie": f"{SESSION_COOKIE}={token}"}


def checks(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-check="([a-z_]+)" data-status="([a-z]+)"', html))


def terms(html: str, section: str) -> set[str]:
    """The attribute terms shown inside one section (`public-data` / `restricted-data`)."""
    match = re.search(rf'<section class="card[^"]*" id="{section}">(.*?)</section>', html, re.S)
    return set(re.findall(r'data-term="(\w+)"', match.group(1))) if match else set()


def badge(html: str) -> str:
    match = re.search(r'id="status-badge" class="badge badge-(\w+)" data-state="(\w+)"', html)
    assert match is not None
    assert match.group(1) == match.group(2)
    return match.group(1)


# ---------------------------------------------------------------------------- the page


async def test_public_page_for_anyone(web: httpx.AsyncClient, seeded: Seeded) -> None:
    reply = await web.get(f"/p/{seeded.battery_id}")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    html = reply.text
    assert badge(html) == "valid"
    public = terms(html, "public-data")
    assert {"batteryIdentifier", "certifiedUsableEnergy", "batteryChemistry"} <= public
    assert not public & {"stateOfCertifiedEnergy", "cathodeAnodeElectrolyteMaterials"}
    assert 'id="restricted-data"' not in html
    assert 'id="restricted-absent"' in html
    assert "complianceTestReports" not in html
    found = checks(html)
    assert found["signature"] == "pass"
    assert found["status_revocation"] == "pass"
    assert 'data-version="1"' in html
    assert "<svg" in html
    assert "https://" not in html.split("<footer>")[0].replace("https://example.org", "")
    csp = reply.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'nonce-" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert reply.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("actor", "sees", "hidden"),
    [
        ("owner", {"stateOfCertifiedEnergy", "cathodeAnodeElectrolyteMaterials"}, set()),
        ("repairer", {"stateOfCertifiedEnergy"}, {"cathodeAnodeElectrolyteMaterials"}),
        ("stranger", None, None),
    ],
)
async def test_restricted_section_per_actor(
    web: httpx.AsyncClient,
    seeded: Seeded,
    actor: str,
    sees: set[str] | None,
    hidden: set[str] | None,
) -> None:
    token = {
        "owner": seeded.owner.token,
        "repairer": seeded.keys.repairer,
        "stranger": seeded.stranger.token,
    }[actor]
    reply = await web.get(f"/p/{seeded.battery_id}", headers=bearer(token))
    assert reply.status_code == 200
    html = reply.text
    if sees is None:
        assert 'id="restricted-data"' not in html
        assert 'id="chart-soh"' not in html
        return
    restricted = terms(html, "restricted-data")
    assert sees <= restricted
    assert hidden is not None
    assert not restricted & hidden
    assert "complianceTestReports" not in restricted  # authorities only
    assert not restricted & terms(html, "public-data")
    # SOH over time: one point per measurement, as a line; SoC histogram from telemetry.
    soh = re.search(r'<div id="chart-soh">(.*?)</div>', html, re.S)
    assert soh is not None
    assert soh.group(1).count('<circle class="dot"') == 6
    assert "<polyline" in soh.group(1)
    assert re.search(r'<div id="chart-soc">\s*<svg', html)
    assert re.search(r'<div id="chart-temperature">\s*<svg', html)
    assert reply.headers["cache-control"] == "no-store"


async def test_restricted_read_is_audited(
    web: httpx.AsyncClient, seeded: Seeded, runtime: Runtime
) -> None:
    async def entries() -> int:
        async with runtime.db.read_only() as session:
            found = await session.exec(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.resource_id == seeded.battery_id,
                    AuditEntry.actor == f"driver:{seeded.owner.driver_id}",
                    col(AuditEntry.reason).in_(["passport page", "telemetry"]),
                )
            )
            return int(found.one())

    before = await entries()
    assert (await web.get(f"/p/{seeded.battery_id}", headers=bearer(seeded.owner.token))).is_success
    assert await entries() == before + 2  # the attributes and the telemetry read
    await web.get(f"/p/{seeded.battery_id}")  # anonymous: nothing restricted, nothing audited
    assert await entries() == before + 2


@pytest.mark.parametrize(
    "path",
    [
        "/p/not-a-uuid",
        "/p/12345",
        "/p/%00%ff",
        f"/p/{'9' * 400}",
        "/p/00000000-0000-0000-0000-000000000000",
        f"/p/{uuid.uuid4()}",
        f"/p/{uuid.uuid4()}/qr.png",
        "/p/nope/qr.svg",
    ],
)
async def test_unknown_or_malformed_ids_are_404_pages(web: httpx.AsyncClient, path: str) -> None:
    reply = await web.get(path)
    assert reply.status_code == 404
    assert 'id="error-page"' in reply.text


async def test_status_json(web: httpx.AsyncClient, seeded: Seeded) -> None:
    reply = await web.get(f"/p/{seeded.battery_id}/status.json", headers={"accept-language": "ko"})
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert body["badge"] == "valid"
    assert body["label"] == CATALOGUES["ko"]["badge.valid"]
    assert body["passportId"] == f"urn:uuid:{seeded.battery_id}"
    assert (await web.get(f"/p/{uuid.uuid4()}/status.json")).status_code == 404
    assert (await web.get("/p/zzz/status.json")).status_code == 404


async def test_badge_and_checks_follow_a_revocation(
    web: httpx.AsyncClient, runtime: Runtime
) -> None:
    keys = await make_keys(runtime)
    battery = await seed(web, keys, telemetry=False)
    assert (await web.get(f"/p/{battery.battery_id}/status.json")).json()["badge"] == "valid"
    await revoke_passport(web, keys.manufacturer, battery.credential["id"])
    assert (await web.get(f"/p/{battery.battery_id}/status.json")).json()["badge"] == "revoked"
    html = (await web.get(f"/p/{battery.battery_id}")).text
    assert badge(html) == "revoked"
    assert checks(html)["status_revocation"] == "fail"
    assert 'data-verified="false"' in html


# --------------------------------------------------------------------------- language


async def test_language_from_accept_language_query_and_cookie(
    web: httpx.AsyncClient, seeded: Seeded
) -> None:
    path = f"/p/{seeded.battery_id}"
    korean = await web.get(path, headers={"accept-language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert '<html lang="ko">' in korean.text
    assert CATALOGUES["ko"]["passport.public"] in korean.text
    english = await web.get(path, headers={"accept-language": "fr, en;q=0.4"})
    assert '<html lang="en">' in english.text
    assert CATALOGUES["en"]["passport.public"] in english.text
    switched = await web.get(f"{path}?lang=ko", headers={"accept-language": "en"})
    assert '<html lang="ko">' in switched.text
    assert "bpp_lang=ko" in switched.headers["set-cookie"]
    remembered = await web.get(path, headers={"accept-language": "en", "cookie": "bpp_lang=ko"})
    assert '<html lang="ko">' in remembered.text
    bogus = await web.get(f"{path}?lang=xx", headers={"accept-language": "ko"})
    assert '<html lang="ko">' in bogus.text
    assert "set-cookie" not in bogus.headers


def test_accept_language_parsing() -> None:
    assert parse_accept_language("ko-KR,ko;q=0.9,en-US;q=0.8") == "ko"
    assert parse_accept_language("en;q=0.2, ko;q=0.7") == "ko"
    assert parse_accept_language("de, fr;q=0.9") is None
    assert parse_accept_language("ko;q=0, en") == "en"
    assert parse_accept_language("ko;q=abc, en;q=0.1") == "en"
    assert parse_accept_language(None) is None
    assert negotiate("ko", "en", "en") == "ko"
    assert negotiate("xx", "ko", "en") == "ko"
    assert negotiate(None, None, "de") == "en"


def test_catalogues_have_the_same_keys_and_no_empty_message() -> None:
    assert set(CATALOGUES["en"]) == set(CATALOGUES["ko"])
    assert all(value.strip() for catalogue in CATALOGUES.values() for value in catalogue.values())


# --------------------------------------------------------------------------------- QR


async def test_qr_png_decodes_to_the_passport_url(
    web: httpx.AsyncClient, seeded: Seeded, runtime: Runtime
) -> None:
    reply = await web.get(f"/p/{seeded.battery_id}/qr.png")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["cache-control"].startswith("public, max-age=")
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(reply.content)))
    assert found.text == f"{runtime.platform.base_url}/p/{seeded.battery_id}"
    again = await web.get(
        f"/p/{seeded.battery_id}/qr.png", headers={"if-none-match": reply.headers["etag"]}
    )
    assert again.status_code == 304


async def test_qr_svg(web: httpx.AsyncClient, seeded: Seeded, runtime: Runtime) -> None:
    reply = await web.get(f"/p/{seeded.battery_id}/qr.svg")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/svg+xml"
    assert reply.text.startswith("<svg")
    assert "<path" in reply.text
    assert f"{runtime.platform.base_url}/p/{seeded.battery_id}" in reply.text  # its title
    assert "etag" in reply.headers


# ----------------------------------------------------------------------------- session


async def test_driver_sign_in_sets_an_httponly_cookie_that_opens_restricted_data(
    web: httpx.AsyncClient, seeded: Seeded
) -> None:
    path = f"/p/{seeded.battery_id}"
    reply = await web.post(
        "/session",
        data={"identifier": seeded.owner.email, "password": PASSWORD, "next": path},
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == path
    set_cookie = reply.headers["set-cookie"]
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower()
    token = reply.cookies[SESSION_COOKIE]
    page = await web.get(path, headers=cookie(token))
    assert 'id="restricted-data"' in page.text
    assert 'id="signed-in-as"' in page.text
    out = await web.post("/session/end", data={"next": path}, headers=cookie(token))
    assert out.status_code == 303
    assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    # Signing out ended the driver's session: the old cookie no longer opens anything.
    stale = await web.get(path, headers=cookie(token))
    assert stale.status_code == 200
    assert 'id="restricted-data"' not in stale.text


async def test_api_key_sign_in_and_refusals(web: httpx.AsyncClient, seeded: Seeded) -> None:
    path = f"/p/{seeded.battery_id}"
    ok = await web.post("/session", data={"token": seeded.keys.repairer, "next": path})
    assert ok.status_code == 303
    page = await web.get(path, headers=cookie(ok.cookies[SESSION_COOKIE]))
    assert "stateOfCertifiedEnergy" in terms(page.text, "restricted-data")
    for form in (
        {"identifier": seeded.owner.email, "password": "wrong password!", "next": path},
        {"token": "bpp_not_a_key", "next": path},
        {"token": "x" * 5000, "next": path},
        {"next": path},
    ):
        refused = await web.post("/session", data=form)
        assert refused.status_code == 401, form
        assert 'id="signin-error"' in refused.text
        assert "set-cookie" not in refused.headers
    # Only the pages' own paths are redirect targets.
    elsewhere = await web.post(
        "/session", data={"token": seeded.keys.repairer, "next": "https://evil.example/"}
    )
    assert elsewhere.headers["location"] == "/verify"
    assert (await web.get(path, headers=cookie("garbage"))).status_code == 200


# ------------------------------------------------------------------------------ verify


async def test_verify_page_answers_credentials_links_and_tampering(
    web: httpx.AsyncClient, seeded: Seeded, runtime: Runtime
) -> None:
    assert (await web.get("/verify")).status_code == 200
    good = await web.post("/verify", data={"payload": json.dumps(seeded.credential)})
    assert good.status_code == 200
    assert 'data-verified="true"' in good.text
    assert checks(good.text)["signature"] == "pass"

    tampered = copy.deepcopy(seeded.credential)
    tampered["credentialSubject"]["batteryIdentifier"] = "KR-FORGED-0001"
    bad = await web.post("/verify", data={"payload": json.dumps(tampered)})
    assert bad.status_code == 200
    assert 'data-verified="false"' in bad.text
    assert checks(bad.text)["signature"] == "fail"

    uploaded = await web.post(
        "/verify",
        files={
            "file": ("passport.json", json.dumps(seeded.credential).encode(), "application/json")
        },
        data={"payload": ""},
    )
    assert uploaded.status_code == 200
    assert 'data-verified="true"' in uploaded.text

    for link in (
        f"{runtime.platform.base_url}/p/{seeded.battery_id}",
        f"urn:uuid:{seeded.battery_id}",
    ):
        by_link = await web.post("/verify", data={"payload": link})
        assert by_link.status_code == 200, link
        assert 'data-verified="true"' in by_link.text
        assert f'href="/p/{seeded.battery_id}"' in by_link.text


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ("", 400, "error.empty"),
        ("   ", 400, "error.empty"),
        ("{not json", 400, "error.not_json"),
        ("hello world", 400, "error.not_json"),
        ("[1, 2, 3]", 422, "error.not_credential"),
        ('{"name": "not a credential"}', 422, "error.not_credential"),
        ('{"type": ["VerifiableCredential"]}', 200, None),
        ("eyJhbGciOiJFUzI1NiJ9.e30.c2ln", 200, None),
        (f"https://platform.example/p/{uuid.uuid4()}", 404, "error.unknown_passport"),
        ("{" * 5000 + "}" * 5000, 400, "error.not_json"),
        ('{"a": "' + "x" * (MAX_INPUT_BYTES + 10) + '"}', 413, "error.too_large"),
    ],
)
async def test_verify_bad_input_is_a_clear_4xx(
    web: httpx.AsyncClient, payload: str, status: int, error: str | None
) -> None:
    reply = await web.post("/verify", data={"payload": payload})
    assert reply.status_code == status, reply.text[:300]
    if error is None:  # well-formed but not verifiable: a result with failed checks
        assert 'data-verified="false"' in reply.text
    else:
        assert f'data-error="{error}"' in reply.text


async def test_verify_upload_refusals(web: httpx.AsyncClient) -> None:
    binary = await web.post("/verify", files={"file": ("x.bin", b"\xff\xfe\x00\x81", "x/y")})
    assert binary.status_code == 400
    assert 'data-error="error.bad_upload"' in binary.text
    huge = await web.post(
        "/verify", files={"file": ("big.json", b"{" + b" " * (MAX_INPUT_BYTES + 5), "x/y")}
    )
    assert huge.status_code == 413
    garbage = await web.post(
        "/verify", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data"}
    )
    assert 400 <= garbage.status_code < 500
