"""The pages in headless Chromium against a real `bpp serve`: the passport page renders, the
badge follows a revocation without a reload, /verify names the failed check of a tampered
credential, and the restricted section appears only after signing in.

Without chromium / chromium-driver these fail when `CI` is set (the issue's acceptance) and
skip locally.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.browser import chromium
from tests.web.seed import PASSWORD, revoke_passport
from tests.web.server import Server, browser_server

pytestmark = pytest.mark.browser

WAIT_S = 30  # the badge polls every 5 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with browser_server(tmp_path_factory.mktemp("web-server")) as running:
        yield running


@pytest.fixture
def browser(server: Server) -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def wait(driver: webdriver.Chrome) -> WebDriverWait[webdriver.Chrome]:
    return WebDriverWait(driver, WAIT_S)


def test_passport_page_renders_and_switches_language(
    browser: webdriver.Chrome, server: Server
) -> None:
    browser.get(f"{server.base}/p/{server.seeded.battery_id}")
    identifier = browser.find_element(By.ID, "battery-identifier").text
    assert identifier.startswith("KR2025")
    assert identifier in browser.title
    badge = browser.find_element(By.ID, "status-badge")
    assert badge.get_attribute("data-state") == "valid"
    assert badge.text == "Valid"
    assert badge.is_displayed()
    signature = browser.find_element(By.CSS_SELECTOR, 'li[data-check="signature"]')
    assert signature.get_attribute("data-status") == "pass"
    assert "signature" in signature.text.lower()
    public = browser.find_element(By.ID, "public-data").text
    assert "Certified usable battery energy" in public
    assert "kWh" in public
    qr = browser.find_element(By.CSS_SELECTOR, "#summary svg")
    assert qr.size["width"] > 80
    browser.find_element(By.ID, "lang-switch").click()
    wait(browser).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko")
    assert browser.find_element(By.ID, "status-badge").text == "유효"
    browser.get(f"{server.base}/p/{server.seeded.battery_id}")  # the choice is remembered
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"


def test_badge_follows_a_revocation_without_reload(
    browser: webdriver.Chrome, server: Server
) -> None:
    browser.get(f"{server.base}/p/{server.seeded.battery_id}?lang=en")
    badge = browser.find_element(By.ID, "status-badge")
    assert badge.get_attribute("data-state") == "valid"
    browser.execute_script("window.__sameDocument = true;")

    async def revoke() -> None:
        async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
            await revoke_passport(
                http, server.seeded.keys.manufacturer, server.seeded.credential["id"]
            )

    asyncio.run(revoke())
    wait(browser).until(
        lambda d: d.find_element(By.ID, "status-badge").get_attribute("data-state") == "revoked"
    )
    assert browser.find_element(By.ID, "status-badge").text == "Revoked"
    assert browser.execute_script("return window.__sameDocument === true;")  # not reloaded


def test_verify_page_names_the_failed_check_of_a_tampered_credential(
    browser: webdriver.Chrome, server: Server, tmp_path: Path
) -> None:
    tampered = copy.deepcopy(server.seeded.credential)
    tampered["credentialSubject"]["batteryIdentifier"] = "KR-FORGED-0001"
    browser.get(f"{server.base}/verify?lang=en")
    payload = browser.find_element(By.ID, "payload")
    browser.execute_script("arguments[0].value = arguments[1];", payload, json.dumps(tampered))
    browser.find_element(By.ID, "verify-submit").click()
    summary = wait(browser).until(lambda d: d.find_element(By.ID, "verification-summary"))
    assert summary.get_attribute("data-verified") == "false"
    assert "Not verified" in summary.text
    signature = browser.find_element(By.CSS_SELECTOR, 'li[data-check="signature"]')
    assert signature.get_attribute("data-status") == "fail"
    assert "changed after signing" in signature.text

    # The untouched credential, uploaded as a file: its signature holds (whether it is still
    # valid depends on the revocation test).
    original = tmp_path / "passport.json"
    original.write_text(json.dumps(server.seeded.credential))
    browser.get(f"{server.base}/verify?lang=en")
    browser.find_element(By.ID, "file").send_keys(str(original))
    browser.find_element(By.ID, "verify-submit").click()
    wait(browser).until(lambda d: d.find_element(By.ID, "verification-summary"))
    signature = browser.find_element(By.CSS_SELECTOR, 'li[data-check="signature"]')
    assert signature.get_attribute("data-status") == "pass"


def test_restricted_section_only_after_signing_in(
    browser: webdriver.Chrome, server: Server
) -> None:
    browser.get(f"{server.base}/p/{server.seeded.battery_id}?lang=en")
    assert browser.find_elements(By.ID, "restricted-data") == []
    assert browser.find_element(By.ID, "restricted-absent").is_displayed()
    browser.find_element(By.ID, "signin-identifier").send_keys(server.seeded.owner.email)
    browser.find_element(By.ID, "signin-password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    restricted = wait(browser).until(lambda d: d.find_element(By.ID, "restricted-data"))
    assert "State of certified energy" in restricted.text
    assert restricted.find_element(By.CSS_SELECTOR, "#chart-soh svg polyline").is_displayed()
    assert restricted.find_element(By.CSS_SELECTOR, "#chart-soc svg rect").is_displayed()
    # The session is an HttpOnly cookie: page scripts cannot read it.
    assert "bpp_session" not in browser.execute_script("return document.cookie;")
    browser.find_element(By.CSS_SELECTOR, "#session form button").click()
    wait(browser).until(lambda d: d.find_elements(By.ID, "restricted-absent"))
    assert browser.find_elements(By.ID, "restricted-data") == []
