"""Scopes: what a kind of principal may do at all, before any object-level policy.

Roles (API keys, role credentials) and drivers map to a fixed set of scopes; the object-level
policies in `backend.auth.policy` then decide for one particular battery, vehicle or driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from backend.orgs.roles import Role


class Scope(StrEnum):
    PASSPORT_READ = "passport:read"
    PASSPORT_READ_RESTRICTED = "passport:read:restricted"
    PASSPORT_READ_AUTHORITY = "passport:read:authority"
    BATTERY_WRITE = "battery:write"
    PASSPORT_ISSUE = "passport:issue"
    CREDENTIAL_REVOKE = "credential:revoke"
    INSPECTION_WRITE = "inspection:write"
    LIFECYCLE_WRITE = "lifecycle:write"
    CHARGING_DECIDE = "charging:decide"
    CHARGING_REPORT = "charging:report"
    PARKING_DECIDE = "parking:decide"
    TELEMETRY_UPLOAD = "telemetry:upload"
    VEHICLE_OWN = "vehicle:own"
    CONSENT_MANAGE = "consent:manage"
    PERSONAL_DATA = "personal:data"
    AUDIT_READ = "audit:read"
    STATISTICS_READ = "statistics:read"
    ISSUER_ACCREDIT = "issuer:accredit"
    APIKEY_MANAGE = "apikey:manage"


_EVERY_ORG: Final = frozenset({Scope.PASSPORT_READ})
_RESTRICTED_READER: Final = _EVERY_ORG | {Scope.PASSPORT_READ_RESTRICTED}

ROLE_SCOPES: Final[Mapping[Role, frozenset[Scope]]] = {
    # The platform operates the system: everything except the city's own powers (accrediting
    # issuers, reading the audit log that watches the platform too) and owning vehicles.
    Role.PLATFORM: frozenset(Scope) - {Scope.ISSUER_ACCREDIT, Scope.AUDIT_READ, Scope.VEHICLE_OWN},
    Role.ISSUER: _RESTRICTED_READER
    | {Scope.BATTERY_WRITE, Scope.PASSPORT_ISSUE, Scope.CREDENTIAL_REVOKE},
    Role.MANUFACTURER: _RESTRICTED_READER
    | {Scope.BATTERY_WRITE, Scope.PASSPORT_ISSUE, Scope.CREDENTIAL_REVOKE, Scope.LIFECYCLE_WRITE},
    Role.CHARGE_POINT_OPERATOR: _RESTRICTED_READER
    | {Scope.CHARGING_DECIDE, Scope.CHARGING_REPORT, Scope.TELEMETRY_UPLOAD},
    Role.PARKING_OPERATOR: _EVERY_ORG | {Scope.PARKING_DECIDE, Scope.CHARGING_DECIDE},
    Role.INSPECTOR: _RESTRICTED_READER
    | {Scope.INSPECTION_WRITE, Scope.CREDENTIAL_REVOKE, Scope.TELEMETRY_UPLOAD},
    Role.REPAIRER: _RESTRICTED_READER | {Scope.LIFECYCLE_WRITE, Scope.TELEMETRY_UPLOAD},
    Role.SECOND_LIFE_OPERATOR: _RESTRICTED_READER
    | {Scope.LIFECYCLE_WRITE, Scope.BATTERY_WRITE, Scope.PASSPORT_ISSUE},
    Role.RECYCLER: _RESTRICTED_READER | {Scope.LIFECYCLE_WRITE},
    Role.AUTHORITY: _RESTRICTED_READER
    | {
        Scope.PASSPORT_READ_AUTHORITY,
        Scope.AUDIT_READ,
        Scope.STATISTICS_READ,
        Scope.ISSUER_ACCREDIT,
    },
}

DRIVER_SCOPES: Final = frozenset(
    {
        Scope.PASSPORT_READ,
        Scope.PASSPORT_READ_RESTRICTED,
        Scope.VEHICLE_OWN,
        Scope.CONSENT_MANAGE,
        Scope.PERSONAL_DATA,
        Scope.TELEMETRY_UPLOAD,
    }
)
DEVICE_SCOPES: Final = frozenset({Scope.TELEMETRY_UPLOAD})
ANONYMOUS_SCOPES: Final = frozenset({Scope.PASSPORT_READ})


def scopes_for_role(role: Role) -> frozenset[Scope]:
    """The scopes an organisation acting in `role` holds."""
    return ROLE_SCOPES[role]
