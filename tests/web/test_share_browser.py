"""The buyer's share page in headless Chromium against a real `bpp serve`: an inspection of
the seeded battery (accredited inspector, recorded-frame read), the owner's share link, and
the page a buyer opens without an account — every check passed and explained, the disclosed
claims shown, the undisclosed VIN absent, Korean on request.

Like the other browser tests: fails under `CI` without chromium, skips locally.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.backend.services.test_inspection_trade import (
    CAPACITY,
    COMPLETE,
    OPEN,
    PULSE,
    SHARE,
    UPLOAD,
    bay_read,
)
from tests.backend.test_cli_serve import BPP
from tests.web.browser import chromium
from tests.web.server import Server, api_key, browser_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with browser_server(tmp_path_factory.mktemp("share-server")) as running:
        yield running


async def call(http: httpx.AsyncClient, query: str, variables: dict[str, Any], key: str) -> Any:
    reply = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )
    body = reply.json()
    assert "errors" not in body, body
    return next(iter(body["data"].values()))


async def inspect_and_share(server: Server, inspector: str) -> str:
    battery = server.seeded.battery_id
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        deadline = time.monotonic() + 60
        while True:  # the server's chain mirror follows the accreditation
            opened = await call(http, OPEN, {"b": battery}, inspector)
            if opened["__typename"] == "Inspection" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert opened["__typename"] == "Inspection", opened
        uploaded = await call(
            http,
            UPLOAD,
            {"i": opened["inspectionId"], "r": bay_read(), "c": CAPACITY, "p": PULSE},
            inspector,
        )
        assert uploaded["__typename"] == "Inspection", uploaded
        done = await call(http, COMPLETE, {"i": opened["inspectionId"]}, inspector)
        assert done["status"] == "completed", done
        shared = await call(http, SHARE, {"b": battery, "d": None}, server.seeded.owner.token)
        assert shared["__typename"] == "Share", shared
        return str(shared["url"])


@pytest.fixture(scope="module")
def share_url(server: Server) -> str:
    inspector, _ = api_key(server.env, "inspector", "bay-one")
    # The passport's issuer first: the outbox sends in order, so once the inspector's
    # accreditation is visible (inspect_and_share waits for it) the manufacturer's is too,
    # and the buyer's `issuer_accredited` cannot come out `unknown`.
    for slug, role in (("busan-battery-works", "manufacturer"), ("bay-one", "inspector")):
        subprocess.run(
            [BPP, "accredit", slug, role],
            env=server.env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return asyncio.run(inspect_and_share(server, inspector))


@pytest.fixture
def browser(server: Server) -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def test_the_buyer_sees_each_check_and_only_the_disclosed_claims(
    browser: webdriver.Chrome, share_url: str
) -> None:
    browser.get(f"{share_url}?nonce=buyer-nonce-0001")
    summary = browser.find_element(By.ID, "verification-summary")
    assert summary.get_attribute("data-verified") == "true", browser.page_source[:3000]
    assert browser.find_element(By.ID, "share-nonce").text == "buyer-nonce-0001"
    for name in ("signature", "issuer_accredited", "status_revocation", "key_binding",
                 "disclosures", "inspection_recency", "same_battery"):  # fmt: skip
        check = browser.find_element(By.CSS_SELECTOR, f'li[data-check="{name}"]')
        assert check.get_attribute("data-status") == "pass", (name, check.text)
    recency = browser.find_element(By.CSS_SELECTOR, 'li[data-check="inspection_recency"]')
    assert "within the accepted age" in recency.text
    grade = browser.find_element(By.CSS_SELECTOR, 'dd[data-claim="inspectionGrade"]')
    assert grade.text.startswith("remanufacture")
    assert browser.find_elements(By.CSS_SELECTOR, 'dd[data-claim="stateOfHealth"]')
    assert not browser.find_elements(
        By.CSS_SELECTOR, 'dd[data-claim="vehicleIdentificationNumber"]'
    )
    assert browser.find_element(By.CSS_SELECTOR, "#share-disclosed svg").size["width"] > 80
    browser.get(f"{share_url}?nonce=buyer-nonce-0002&lang=ko")
    assert browser.find_element(By.TAG_NAME, "h1").text == "공유된 배터리 자격증명"
    same = browser.find_element(By.CSS_SELECTOR, 'li[data-check="same_battery"]')
    assert "검사와 여권의 배터리 일치" in same.text
