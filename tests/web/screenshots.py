"""Screenshots of the passport page, phone and desktop widths, as its owner sees it.

    .venv/bin/python -m tests.web.screenshots [--out docs/screenshots] [--lang en|ko]

Starts `bpp serve` on embedded defaults in a temporary folder, seeds the passport of
tests/web/seed.py, signs in as its owner through the page's form and writes
`passport-phone.png` (390 px wide) and `passport-desktop.png` (1280 px wide), each the
whole page height.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.web.browser import chromium
from tests.web.seed import PASSWORD
from tests.web.server import chromium_missing, seeded_server

SIZES = {"phone": (390, 844, True), "desktop": (1280, 900, False)}


def full_page(driver: webdriver.Chrome, width: int, height: int, mobile: bool, out: Path) -> None:
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.refresh()
    total = int(driver.execute_script("return document.documentElement.scrollHeight;"))
    metrics["height"] = max(height, total)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    out.write_bytes(driver.get_screenshot_as_png())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--lang", choices=("en", "ko"), default="en")
    args = parser.parse_args(argv)
    missing = chromium_missing()
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as data,
        seeded_server(Path(data)) as server,
        chromium(lang=args.lang) as driver,
    ):
        driver.get(f"{server.base}/p/{server.seeded.battery_id}?lang={args.lang}")
        driver.find_element(By.ID, "signin-identifier").send_keys(server.seeded.owner.email)
        driver.find_element(By.ID, "signin-password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
        driver.find_element(By.ID, "restricted-data")
        for name, (width, height, mobile) in SIZES.items():
            target = args.out / f"passport-{name}.png"
            full_page(driver, width, height, mobile, target)
            print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
