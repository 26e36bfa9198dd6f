"""Organisation roles, spelled exactly as the API and the CLI expect them."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PLATFORM = "platform"
    ISSUER = "issuer"
    MANUFACTURER = "manufacturer"
    CHARGE_POINT_OPERATOR = "charge-point-operator"
    PARKING_OPERATOR = "parking-operator"
    INSPECTOR = "inspector"
    REPAIRER = "repairer"
    SECOND_LIFE_OPERATOR = "second-life-operator"
    RECYCLER = "recycler"
    AUTHORITY = "authority"


# Roles allowed to register batteries and have passports issued for them.
BATTERY_WRITERS = frozenset({Role.PLATFORM, Role.ISSUER, Role.MANUFACTURER})
# The organisation roles that issue credentials (and may be accredited for it on chain).
CREDENTIAL_ISSUERS = frozenset(
    {
        Role.PLATFORM,
        Role.ISSUER,
        Role.MANUFACTURER,
        Role.INSPECTOR,
        Role.CHARGE_POINT_OPERATOR,
        Role.REPAIRER,
        Role.SECOND_LIFE_OPERATOR,
        Role.RECYCLER,
    }
)
