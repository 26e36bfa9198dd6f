"""The three access groups of the EU Battery Regulation (Art. 77(2)), as the CSV spells them."""

from __future__ import annotations

from enum import StrEnum


class Audience(StrEnum):
    PUBLIC = "public"
    LEGITIMATE_INTEREST = "legitimate_interest"
    AUTHORITIES = "authorities"
