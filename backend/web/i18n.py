"""Korean and English: one message catalogue per language, chosen per request.

The catalogues are `messages/<lang>.json` (flat keys); a test keeps their key sets equal.
The language is, in order: `?lang=` (then remembered in the `bpp_lang` cookie), the cookie,
the best `Accept-Language` match, English. Attribute titles stay as the attribute table
writes them (the regulation's English terms); group names, badges, checks and every
sentence of the pages are translated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LANGUAGES: Final = ("en", "ko")
DEFAULT_LANGUAGE: Final = "en"
LANG_COOKIE: Final = "bpp_lang"

_DIR = Path(__file__).parent / "messages"


def _load(lang: str) -> dict[str, str]:
    data = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return {str(key): str(value) for key, value in data.items()}


CATALOGUES: Final[Mapping[str, Mapping[str, str]]] = {lang: _load(lang) for lang in LANGUAGES}


@dataclass(frozen=True, slots=True)
class Messages:
    """The catalogue of one language; a missing key shows itself rather than failing."""

    lang: str

    def __call__(self, key: str) -> str:
        return CATALOGUES[self.lang].get(key) or CATALOGUES[DEFAULT_LANGUAGE].get(key) or key

    def has(self, key: str) -> bool:
        return key in CATALOGUES[self.lang]


def parse_accept_language(header: str | None) -> str | None:
    """The supported language the header prefers most (q-values honoured), or None."""
    if not header:
        return None
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0]
        if primary not in LANGUAGES or quality <= 0:
            continue
        candidate = (quality, -position, primary)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else None


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: explicit choice, remembered choice, browser preference, English."""
    for choice in (query, cookie):
        if choice in LANGUAGES:
            return str(choice)
    return parse_accept_language(accept_language) or DEFAULT_LANGUAGE
