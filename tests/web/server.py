"""A real `bpp serve` on embedded defaults for the browser tests and the screenshots, with
API keys made by `bpp apikey create` beside it and a seeded passport (tests/web/seed.py)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backend.test_cli_serve import BPP, bpp_server, clean_env
from tests.services import free_port
from tests.web.seed import Keys, Seeded, seed

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for name, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER)):
        if shutil.which(path) is None:
            return f"{name} is not installed ({path}): apt-get install chromium chromium-driver"
    return None


@dataclass(frozen=True)
class Server:
    base: str
    env: dict[str, str]
    seeded: Seeded


def api_key(env: dict[str, str], role: str, slug: str) -> tuple[str, str]:
    """(key, organisation DID) from `bpp apikey create`."""
    output = subprocess.run(
        [BPP, "apikey", "create", "--role", role, "--org", slug],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    did = next(line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("did: "))
    return output.splitlines()[-1], did


async def _seed(base: str, keys: Keys) -> Seeded:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        return await seed(http, keys)


@contextmanager
def seeded_server(data_dir: Path) -> Iterator[Server]:
    env = clean_env(data_dir)
    with bpp_server(env, data_dir, free_port()) as base:
        repairer, repairer_did = api_key(env, "repairer", "fix-it")
        keys = Keys(
            manufacturer=api_key(env, "manufacturer", "busan-battery-works")[0],
            operator=api_key(env, "charge-point-operator", "charge-co")[0],
            repairer=repairer,
            repairer_did=repairer_did,
            other_repairer=api_key(env, "repairer", "other-fix")[0],
        )
        yield Server(base, env, asyncio.run(_seed(base, keys)))


@contextmanager
def browser_server(data_dir: Path) -> Iterator[Server]:
    """`seeded_server` for the browser tests: skipped where Debian's chromium is missing,
    failed under CI (where scripts/bootstrap installs it)."""
    missing = chromium_missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run: {missing}")
        pytest.skip(missing)
    with seeded_server(data_dir) as running:
        yield running
